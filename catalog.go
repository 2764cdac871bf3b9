package evently

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	// Venue time zones are validated with LoadLocation; embedding the IANA
	// database keeps that working on hosts and images without tzdata.
	_ "time/tzdata"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Venue is a place with a seat layout.
type Venue struct {
	ID        uuid.UUID `db:"id" json:"id"`
	OwnerID   uuid.UUID `db:"owner_id" json:"owner_id"`
	Name      string    `db:"name" json:"name"`
	City      string    `db:"city" json:"city"`
	Address   string    `db:"address" json:"address"`
	TimeZone  string    `db:"time_zone" json:"time_zone"`
	Capacity  int       `db:"capacity" json:"capacity"`
	CreatedAt time.Time `db:"created_at" json:"created_at"`
	UpdatedAt time.Time `db:"updated_at" json:"updated_at"`
	Sections  []Section `db:"-" json:"sections,omitempty"`
}

// Section is a named block of rows in a venue.
type Section struct {
	Name string `json:"name"`
	Rows []Row  `json:"rows"`
}

// Row is a labelled row of seats.
type Row struct {
	Label string `json:"label"`
	Seats []Seat `json:"seats"`
}

// Seat is one place to sit, with where to draw it on a map.
type Seat struct {
	ID         string  `db:"id" json:"id"`
	Section    string  `db:"section" json:"section"`
	Row        string  `db:"row_label" json:"row"`
	Number     int     `db:"number" json:"number"`
	X          float64 `db:"x" json:"x"`
	Y          float64 `db:"y" json:"y"`
	Accessible bool    `db:"accessible" json:"accessible"`
}

// SeatID names a seat: section, row and number joined by hyphens
// ("ORCH-A-12"). Section names and row labels cannot hold hyphens, so the id
// is unambiguous.
func SeatID(section, row string, number int) string {
	return fmt.Sprintf("%s-%s-%d", section, row, number)
}

// GroupSeats nests seats (in layout order) into sections and rows.
func GroupSeats(seats []Seat) []Section {
	var out []Section
	for _, s := range seats {
		if len(out) == 0 || out[len(out)-1].Name != s.Section {
			out = append(out, Section{Name: s.Section})
		}
		sec := &out[len(out)-1]
		if len(sec.Rows) == 0 || sec.Rows[len(sec.Rows)-1].Label != s.Row {
			sec.Rows = append(sec.Rows, Row{Label: s.Row})
		}
		row := &sec.Rows[len(sec.Rows)-1]
		row.Seats = append(row.Seats, s)
	}
	return out
}

// Layout limits: a large stadium fits, a typo of three extra zeros does not.
const (
	MaxSections       = 200
	MaxRowsPerSection = 500
	MaxSeatsPerRow    = 1000
	MaxVenueSeats     = 100_000
	// MaxCoordinate bounds seat-map positions and offsets (drawing units):
	// every coordinate stays finite and exact.
	MaxCoordinate = 1_000_000
)

// Spacing of the generated seat map, in abstract drawing units.
const (
	seatPitch  = 1.0 // between neighbouring seats
	rowPitch   = 1.0 // between rows
	sectionGap = 2.0 // between sections placed one below the other
)

var layoutName = regexp.MustCompile(`^[A-Za-z0-9_]{1,24}$`)

// Layout is the compact description of a venue's seats: sections of rows,
// given either row by row or as a block of row_count rows of seats_per_row
// seats (rows labelled A, B, …, Z, AA, AB, …). See docs/catalog.md.
type Layout struct {
	Sections []LayoutSection `json:"sections"`
}

// LayoutSection is one section of a Layout. X and Y place its first seat;
// without them the section goes below the previous one.
type LayoutSection struct {
	Name        string      `json:"name"`
	X           *float64    `json:"x,omitempty"`
	Y           *float64    `json:"y,omitempty"`
	Rows        []LayoutRow `json:"rows,omitempty"`
	RowCount    int         `json:"row_count,omitempty"`
	SeatsPerRow int         `json:"seats_per_row,omitempty"`
	// Accessible lists accessible seats as "<row>-<number>" ("A-1").
	Accessible []string `json:"accessible,omitempty"`
}

// LayoutRow is one row: its label, how many seats (numbered from 1), an
// optional horizontal offset (for staggered or curved rows) and the numbers
// of its accessible seats.
type LayoutRow struct {
	Label      string  `json:"label"`
	Seats      int     `json:"seats"`
	Offset     float64 `json:"offset,omitempty"`
	Accessible []int   `json:"accessible,omitempty"`
}

// RowLabel returns the i-th (0-based) generated row label: A…Z, AA, AB, ….
func RowLabel(i int) string {
	var b []byte
	for i++; i > 0; i = (i - 1) / 26 {
		b = append([]byte{byte('A' + (i-1)%26)}, b...)
	}
	return string(b)
}

// Expand validates the layout and returns every seat in layout order, or
// per-field problems keyed like "layout.sections[1].rows[0].label".
func (l Layout) Expand() ([]Seat, map[string]string) {
	bad := map[string]string{}
	if len(l.Sections) == 0 {
		bad["layout.sections"] = "must list at least one section"
		return nil, bad
	}
	if len(l.Sections) > MaxSections {
		bad["layout.sections"] = fmt.Sprintf("at most %d sections", MaxSections)
		return nil, bad
	}
	var seats []Seat
	sectionSeen := map[string]int{}
	nextY := 0.0
	for si, sec := range l.Sections {
		p := fmt.Sprintf("layout.sections[%d]", si)
		if !layoutName.MatchString(sec.Name) {
			bad[p+".name"] = "must be 1-24 letters, digits or _"
			continue
		}
		if prev, dup := sectionSeen[strings.ToUpper(sec.Name)]; dup {
			bad[p+".name"] = fmt.Sprintf("duplicates section %d (%q): seat labels would overlap", prev, sec.Name)
			continue
		}
		sectionSeen[strings.ToUpper(sec.Name)] = si
		rows, rowBad := sec.rows(p)
		for k, v := range rowBad {
			bad[k] = v
		}
		if len(rowBad) > 0 {
			continue
		}
		total := len(seats)
		for _, r := range rows {
			total += r.Seats
		}
		if total > MaxVenueSeats {
			bad["layout"] = fmt.Sprintf("at most %d seats per venue", MaxVenueSeats)
			return nil, bad
		}
		x0, y0 := 0.0, nextY
		if sec.X != nil {
			x0 = *sec.X
		}
		if sec.Y != nil {
			y0 = *sec.Y
		}
		if !inPlane(x0) || !inPlane(y0) {
			bad[p] = fmt.Sprintf("x and y must be finite and between -%d and %d", MaxCoordinate, MaxCoordinate)
			continue
		}
		offsetBad := false
		for ri, r := range rows {
			if !inPlane(r.Offset) || !inPlane(x0+r.Offset+float64(r.Seats)*seatPitch) || !inPlane(y0+float64(ri)*rowPitch) {
				bad[fmt.Sprintf("%s.rows[%d].offset", p, ri)] = fmt.Sprintf("seats must stay between -%d and %d", MaxCoordinate, MaxCoordinate)
				offsetBad = true
			}
		}
		if offsetBad {
			continue
		}
		accessible := map[string]bool{}
		for ri, r := range rows {
			for _, n := range r.Accessible {
				accessible[fmt.Sprintf("%s-%d", r.Label, n)] = true
				if n < 1 || n > r.Seats {
					bad[fmt.Sprintf("%s.rows[%d].accessible", p, ri)] = fmt.Sprintf("row %s has no seat %d", r.Label, n)
				}
			}
		}
		rowSeats := map[string]int{}
		for _, r := range rows {
			rowSeats[r.Label] = r.Seats
		}
		for _, ref := range sec.Accessible {
			label, num, ok := strings.Cut(ref, "-")
			n, err := strconv.Atoi(num)
			if !ok || err != nil || n < 1 || n > rowSeats[label] {
				bad[p+".accessible"] = fmt.Sprintf("%q is not a seat of this section (want <row>-<number>)", ref)
				continue
			}
			accessible[ref] = true
		}
		for ri, r := range rows {
			for n := 1; n <= r.Seats; n++ {
				ref := r.Label + "-" + strconv.Itoa(n)
				seats = append(seats, Seat{
					ID: sec.Name + "-" + ref, Section: sec.Name, Row: r.Label, Number: n,
					X: x0 + r.Offset + float64(n-1)*seatPitch, Y: y0 + float64(ri)*rowPitch,
					Accessible: len(accessible) > 0 && accessible[ref],
				})
			}
		}
		nextY = max(nextY, y0+float64(len(rows))*rowPitch+sectionGap)
	}
	if len(bad) > 0 {
		return nil, bad
	}
	return seats, nil
}

// inPlane reports whether a coordinate is finite and within MaxCoordinate.
func inPlane(v float64) bool { return !math.IsNaN(v) && math.Abs(v) <= MaxCoordinate }

// rows returns the section's rows, expanding the row_count shorthand.
func (sec LayoutSection) rows(p string) ([]LayoutRow, map[string]string) {
	bad := map[string]string{}
	explicit, block := len(sec.Rows) > 0, sec.RowCount > 0 || sec.SeatsPerRow > 0
	switch {
	case explicit && block:
		bad[p] = "give either rows or row_count with seats_per_row, not both"
		return nil, bad
	case !explicit && !block:
		bad[p+".rows"] = "must list rows, or give row_count and seats_per_row"
		return nil, bad
	case block:
		if sec.RowCount < 1 || sec.RowCount > MaxRowsPerSection {
			bad[p+".row_count"] = fmt.Sprintf("must be between 1 and %d", MaxRowsPerSection)
		}
		if sec.SeatsPerRow < 1 || sec.SeatsPerRow > MaxSeatsPerRow {
			bad[p+".seats_per_row"] = fmt.Sprintf("must be between 1 and %d", MaxSeatsPerRow)
		}
		if len(bad) > 0 {
			return nil, bad
		}
		rows := make([]LayoutRow, sec.RowCount)
		for i := range rows {
			rows[i] = LayoutRow{Label: RowLabel(i), Seats: sec.SeatsPerRow}
		}
		return rows, nil
	}
	if len(sec.Rows) > MaxRowsPerSection {
		bad[p+".rows"] = fmt.Sprintf("at most %d rows", MaxRowsPerSection)
		return nil, bad
	}
	seen := map[string]int{}
	for ri, r := range sec.Rows {
		rp := fmt.Sprintf("%s.rows[%d]", p, ri)
		if !layoutName.MatchString(r.Label) {
			bad[rp+".label"] = "must be 1-24 letters, digits or _"
		} else if prev, dup := seen[strings.ToUpper(r.Label)]; dup {
			bad[rp+".label"] = fmt.Sprintf("duplicates row %d (%q): seat labels would overlap", prev, r.Label)
		}
		seen[strings.ToUpper(r.Label)] = ri
		if r.Seats < 1 || r.Seats > MaxSeatsPerRow {
			bad[rp+".seats"] = fmt.Sprintf("must be between 1 and %d", MaxSeatsPerRow)
		}
	}
	return sec.Rows, bad
}

// VenueInput is what an organizer sends to create a venue.
type VenueInput struct {
	Name     string `json:"name"`
	City     string `json:"city"`
	Address  string `json:"address"`
	TimeZone string `json:"time_zone"`
	Layout   Layout `json:"layout"`
}

// Validate trims the input and returns its seats, or an EINVALID error.
func (in *VenueInput) Validate() ([]Seat, error) {
	in.Name, in.City, in.Address, in.TimeZone = strings.TrimSpace(in.Name), strings.TrimSpace(in.City),
		strings.TrimSpace(in.Address), strings.TrimSpace(in.TimeZone)
	bad := map[string]string{}
	checkText(bad, "name", in.Name, 1, 200)
	checkText(bad, "city", in.City, 0, 100)
	checkText(bad, "address", in.Address, 0, 300)
	if msg := ValidTimeZone(in.TimeZone); msg != "" {
		bad["time_zone"] = msg
	}
	seats, layoutBad := in.Layout.Expand()
	for k, v := range layoutBad {
		bad[k] = v
	}
	if len(bad) > 0 {
		return nil, Invalid(bad)
	}
	return seats, nil
}

// ValidTimeZone returns "" for an IANA zone name, else what is wrong.
func ValidTimeZone(tz string) string {
	if tz == "" {
		return "is required (an IANA name such as Europe/Berlin)"
	}
	// LoadLocation also accepts "Local" and file paths; neither means
	// anything to a client.
	if tz == "Local" || strings.ContainsAny(tz, `\`) || strings.Contains(tz, "..") {
		return fmt.Sprintf("%q is not an IANA time zone", tz)
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return fmt.Sprintf("%q is not an IANA time zone", tz)
	}
	return ""
}

// VenuePatch changes some of a venue's fields; nil leaves a field alone.
type VenuePatch struct {
	Name     *string `json:"name"`
	City     *string `json:"city"`
	Address  *string `json:"address"`
	TimeZone *string `json:"time_zone"`
	Layout   *Layout `json:"layout"`
}

// Apply returns the venue input after the patch, starting from v.
func (p VenuePatch) Apply(v *Venue, layout Layout) VenueInput {
	in := VenueInput{Name: v.Name, City: v.City, Address: v.Address, TimeZone: v.TimeZone, Layout: layout}
	set(&in.Name, p.Name)
	set(&in.City, p.City)
	set(&in.Address, p.Address)
	set(&in.TimeZone, p.TimeZone)
	if p.Layout != nil {
		in.Layout = *p.Layout
	}
	return in
}

// VenueFilter selects a page of venues.
type VenueFilter struct {
	OwnerID *uuid.UUID
	Limit   int
	Cursor  string
}

// VenuePage is one page of venues.
type VenuePage struct {
	Items      []Venue `json:"items"`
	NextCursor string  `json:"next_cursor,omitempty"`
}

// EventStatus is where an event stands.
type EventStatus string

const (
	EventDraft     EventStatus = "draft"
	EventPublished EventStatus = "published"
	EventCancelled EventStatus = "cancelled"
)

// Tier is a price level covering whole sections of the venue.
type Tier struct {
	Name       string   `json:"name"`
	PriceCents int64    `json:"price_cents"`
	Sections   []string `json:"sections"`
}

// VenueSummary is what an event shows of its venue.
type VenueSummary struct {
	ID       uuid.UUID `json:"id"`
	Name     string    `json:"name"`
	City     string    `json:"city"`
	Address  string    `json:"address"`
	TimeZone string    `json:"time_zone"`
}

// PriceRange is the cheapest and dearest tier of an event.
type PriceRange struct {
	MinCents int64 `json:"min_cents"`
	MaxCents int64 `json:"max_cents"`
}

// Event is something people buy seats for.
type Event struct {
	ID             uuid.UUID   `db:"id" json:"id"`
	VenueID        uuid.UUID   `db:"venue_id" json:"venue_id"`
	OrganizerID    uuid.UUID   `db:"organizer_id" json:"organizer_id"`
	Title          string      `db:"title" json:"title"`
	Description    string      `db:"description" json:"description"`
	Category       string      `db:"category" json:"category"`
	City           string      `db:"city" json:"city"`
	Status         EventStatus `db:"status" json:"status"`
	StartsAt       time.Time   `db:"starts_at" json:"starts_at"`
	EndsAt         time.Time   `db:"ends_at" json:"ends_at"`
	SalesStartAt   *time.Time  `db:"sales_start_at" json:"sales_start_at,omitempty"`
	SalesEndAt     *time.Time  `db:"sales_end_at" json:"sales_end_at,omitempty"`
	Currency       string      `db:"currency" json:"currency"`
	Tiers          []Tier      `db:"-" json:"tiers"`
	Capacity       int         `db:"capacity" json:"capacity"`
	AvailableSeats int         `db:"available_seats" json:"available_seats"`
	// SalesOpen is OnSale at the time the event was read: whether a hold
	// would be granted now.
	SalesOpen  bool          `db:"-" json:"sales_open"`
	TimeZone   string        `db:"-" json:"time_zone"`
	Venue      *VenueSummary `db:"-" json:"venue,omitempty"`
	PriceRange *PriceRange   `db:"-" json:"price_range,omitempty"`
	CreatedAt  time.Time     `db:"created_at" json:"created_at"`
	UpdatedAt  time.Time     `db:"updated_at" json:"updated_at"`
}

// OnSale reports whether seats of the event can be held and booked at now:
// published, inside its sales window (which ends at the start by default).
func (e *Event) OnSale(now time.Time) bool {
	if e.Status != EventPublished {
		return false
	}
	if e.SalesStartAt != nil && now.Before(*e.SalesStartAt) {
		return false
	}
	end := e.StartsAt
	if e.SalesEndAt != nil {
		end = *e.SalesEndAt
	}
	return now.Before(end)
}

// VisibleTo reports whether a can see the event: drafts only to their
// organizer and admins.
func (e *Event) VisibleTo(a Actor) bool {
	return e.Status != EventDraft || a.IsAdmin() || (a.UserID != uuid.Nil && a.UserID == e.OrganizerID)
}

// SetPriceRange fills PriceRange from the tiers.
func (e *Event) SetPriceRange() {
	e.PriceRange = nil
	for i, t := range e.Tiers {
		if i == 0 {
			e.PriceRange = &PriceRange{t.PriceCents, t.PriceCents}
		}
		e.PriceRange.MinCents = min(e.PriceRange.MinCents, t.PriceCents)
		e.PriceRange.MaxCents = max(e.PriceRange.MaxCents, t.PriceCents)
	}
}

// CanManage returns nil when a may change something owned by ownerID:
// admins everything, organizers their own.
func CanManage(a Actor, ownerID uuid.UUID) error {
	if a.IsAdmin() || (a.Role == RoleOrganizer && a.UserID == ownerID) {
		return nil
	}
	return Errorf(EFORBIDDEN, "This belongs to another organizer.")
}

// EventInput is a draft event as the organizer describes it.
type EventInput struct {
	VenueID      uuid.UUID  `json:"venue_id"`
	Title        string     `json:"title"`
	Description  string     `json:"description"`
	Category     string     `json:"category"`
	City         string     `json:"city"`
	StartsAt     time.Time  `json:"starts_at"`
	EndsAt       time.Time  `json:"ends_at"`
	SalesStartAt *time.Time `json:"sales_start_at"`
	SalesEndAt   *time.Time `json:"sales_end_at"`
	Currency     string     `json:"currency"`
	Tiers        []Tier     `json:"tiers"`
}

var currencyCode = regexp.MustCompile(`^[A-Z]{3}$`)

// Normalize trims text, lower-cases the category and fills defaults: the
// city from the venue, USD.
func (in *EventInput) Normalize(venueCity string) {
	in.Title, in.Description = strings.TrimSpace(in.Title), strings.TrimSpace(in.Description)
	in.Category, in.City = strings.ToLower(strings.TrimSpace(in.Category)), strings.TrimSpace(in.City)
	in.Currency = strings.ToUpper(strings.TrimSpace(in.Currency))
	if in.City == "" {
		in.City = venueCity
	}
	if in.Currency == "" {
		in.Currency = "USD"
	}
	for i := range in.Tiers {
		in.Tiers[i].Name = strings.TrimSpace(in.Tiers[i].Name)
	}
}

// Validate checks the input against the venue's sections (nil when the
// venue does not exist) and returns per-field problems.
func (in *EventInput) Validate(sections []string) map[string]string {
	bad := map[string]string{}
	if in.VenueID == uuid.Nil {
		bad["venue_id"] = "is required"
	} else if sections == nil {
		bad["venue_id"] = "no such venue"
	}
	checkText(bad, "title", in.Title, 1, 200)
	checkText(bad, "description", in.Description, 0, 5000)
	checkText(bad, "category", in.Category, 0, 50)
	checkText(bad, "city", in.City, 0, 100)
	switch {
	case in.StartsAt.IsZero():
		bad["starts_at"] = "is required (RFC 3339)"
	case in.EndsAt.IsZero():
		bad["ends_at"] = "is required (RFC 3339)"
	case !in.EndsAt.After(in.StartsAt):
		bad["ends_at"] = "must be after starts_at"
	}
	if in.SalesStartAt != nil && in.SalesEndAt != nil && !in.SalesEndAt.After(*in.SalesStartAt) {
		bad["sales_end_at"] = "must be after sales_start_at"
	} else if in.SalesEndAt != nil && !in.EndsAt.IsZero() && in.SalesEndAt.After(in.EndsAt) {
		bad["sales_end_at"] = "must not be after ends_at"
	}
	if in.SalesStartAt != nil && !in.StartsAt.IsZero() && !in.SalesStartAt.Before(in.StartsAt) {
		bad["sales_start_at"] = "must be before starts_at"
	}
	if !currencyCode.MatchString(in.Currency) {
		bad["currency"] = "must be a three-letter ISO 4217 code"
	}
	validateTiers(bad, in.Tiers, sections)
	return bad
}

// validateTiers checks that every venue section is priced by exactly one tier.
func validateTiers(bad map[string]string, tiers []Tier, sections []string) {
	if len(tiers) == 0 {
		bad["tiers"] = "must list at least one price tier"
		return
	}
	if len(tiers) > 50 {
		bad["tiers"] = "at most 50 tiers"
		return
	}
	names := map[string]bool{}
	coveredBy := map[string]string{}
	for i, t := range tiers {
		p := fmt.Sprintf("tiers[%d]", i)
		switch {
		case t.Name == "" || utf8.RuneCountInString(t.Name) > 40:
			bad[p+".name"] = "must be 1-40 characters"
		case names[strings.ToLower(t.Name)]:
			bad[p+".name"] = fmt.Sprintf("duplicates tier %q", t.Name)
		}
		names[strings.ToLower(t.Name)] = true
		if t.PriceCents < 0 || t.PriceCents > 100_000_000 {
			bad[p+".price_cents"] = "must be between 0 and 100000000"
		}
		if len(t.Sections) == 0 {
			bad[p+".sections"] = "must list at least one section"
		}
		for _, s := range t.Sections {
			if sections != nil && !slices.Contains(sections, s) {
				bad[p+".sections"] = fmt.Sprintf("the venue has no section %q", s)
			} else if other, dup := coveredBy[s]; dup {
				bad[p+".sections"] = fmt.Sprintf("section %q is already priced by tier %q", s, other)
			}
			coveredBy[s] = t.Name
		}
	}
	var missing []string
	for _, s := range sections {
		if _, ok := coveredBy[s]; !ok {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		bad["tiers"] = "no tier covers section(s) " + strings.Join(missing, ", ")
	}
}

// EventPatch changes some fields of an event; nil leaves a field alone.
// Null cannot clear a sales window bound; send the event's start instead.
type EventPatch struct {
	VenueID      *uuid.UUID `json:"venue_id"`
	Title        *string    `json:"title"`
	Description  *string    `json:"description"`
	Category     *string    `json:"category"`
	City         *string    `json:"city"`
	StartsAt     *time.Time `json:"starts_at"`
	EndsAt       *time.Time `json:"ends_at"`
	SalesStartAt *time.Time `json:"sales_start_at"`
	SalesEndAt   *time.Time `json:"sales_end_at"`
	Currency     *string    `json:"currency"`
	Tiers        []Tier     `json:"tiers"`
}

// Apply returns e's input after the patch. Once published, only the words
// (title, description, category) may change: buyers paid for a venue, a date
// and a price. A cancelled event changes no more.
func (p EventPatch) Apply(e *Event) (EventInput, error) {
	switch e.Status {
	case EventCancelled:
		return EventInput{}, Errorf(ECONFLICT, "The event is cancelled; it cannot change.")
	case EventPublished:
		var frozen []string
		for name, set := range map[string]bool{
			"venue_id": p.VenueID != nil, "city": p.City != nil, "starts_at": p.StartsAt != nil,
			"ends_at": p.EndsAt != nil, "sales_start_at": p.SalesStartAt != nil, "sales_end_at": p.SalesEndAt != nil,
			"currency": p.Currency != nil, "tiers": p.Tiers != nil,
		} {
			if set {
				frozen = append(frozen, name)
			}
		}
		if len(frozen) > 0 {
			slices.Sort(frozen)
			e := Errorf(ECONFLICT, "The event is published; only title, description and category may change.")
			e.Fields = map[string]string{}
			for _, f := range frozen {
				e.Fields[f] = "cannot change after publishing"
			}
			return EventInput{}, e
		}
	}
	in := EventInput{VenueID: e.VenueID, Title: e.Title, Description: e.Description, Category: e.Category,
		City: e.City, StartsAt: e.StartsAt, EndsAt: e.EndsAt, SalesStartAt: e.SalesStartAt, SalesEndAt: e.SalesEndAt,
		Currency: e.Currency, Tiers: e.Tiers}
	if p.VenueID != nil {
		in.VenueID = *p.VenueID
		if p.City == nil {
			in.City = "" // follow the new venue
		}
	}
	set(&in.Title, p.Title)
	set(&in.Description, p.Description)
	set(&in.Category, p.Category)
	set(&in.City, p.City)
	set(&in.StartsAt, p.StartsAt)
	set(&in.EndsAt, p.EndsAt)
	set(&in.Currency, p.Currency)
	if p.SalesStartAt != nil {
		in.SalesStartAt = p.SalesStartAt
	}
	if p.SalesEndAt != nil {
		in.SalesEndAt = p.SalesEndAt
	}
	if p.Tiers != nil {
		in.Tiers = p.Tiers
	}
	return in, nil
}

// Sorts of the event listing.
const (
	SortStartsAt  = "starts_at"
	SortRelevance = "relevance"
)

// EventFilter selects a page of events. Viewer decides which drafts show.
type EventFilter struct {
	Viewer   Actor
	Query    string
	Category string
	City     string
	From, To *time.Time
	// Status is a status, or "any" for every status the viewer may see.
	Status string
	Sort   string
	Limit  int
	Cursor string
}

// EventPage is one page of events.
type EventPage struct {
	Items      []Event `json:"items"`
	NextCursor string  `json:"next_cursor,omitempty"`
}

// SeatStatus is a seat's state on an event's seat map.
type SeatStatus string

const (
	SeatAvailable SeatStatus = "available"
	SeatHeld      SeatStatus = "held"
	SeatSold      SeatStatus = "sold"
)

// EventSeat is one sellable seat of one event. Version guards every change.
type EventSeat struct {
	EventID    uuid.UUID  `db:"event_id" json:"-"`
	SeatID     string     `db:"seat_id" json:"id"`
	Section    string     `db:"section" json:"section"`
	Row        string     `db:"row_label" json:"row"`
	Number     int        `db:"number" json:"number"`
	Tier       string     `db:"tier" json:"tier"`
	PriceCents int64      `db:"price_cents" json:"price_cents"`
	Status     SeatStatus `db:"status" json:"status"`
	BookingID  *uuid.UUID `db:"booking_id" json:"-"`
	Version    int64      `db:"version" json:"-"`
}

// MapSeat is one seat on an event's seat map.
type MapSeat struct {
	ID         string     `db:"seat_id" json:"id"`
	Section    string     `db:"section" json:"section"`
	Row        string     `db:"row_label" json:"row"`
	Number     int        `db:"number" json:"number"`
	X          float64    `db:"x" json:"x"`
	Y          float64    `db:"y" json:"y"`
	Accessible bool       `db:"accessible" json:"accessible"`
	Tier       string     `db:"tier" json:"tier"`
	PriceCents int64      `db:"price_cents" json:"price_cents"`
	Status     SeatStatus `db:"status" json:"status"`
}

// SeatMap is an event's seats with their status at TakenAt.
type SeatMap struct {
	EventID     uuid.UUID
	OrganizerID uuid.UUID
	EventStatus EventStatus
	Seats       []MapSeat
	TakenAt     time.Time
}

// VenueService manages venues. Every method that changes a venue checks
// that the actor may (CanManage) and that no event uses it.
type VenueService interface {
	CreateVenue(ctx context.Context, a Actor, in VenueInput) (*Venue, error)
	Venue(ctx context.Context, id uuid.UUID, withSeats bool) (*Venue, error)
	Venues(ctx context.Context, f VenueFilter) (VenuePage, error)
	UpdateVenue(ctx context.Context, a Actor, id uuid.UUID, p VenuePatch) (*Venue, error)
	DeleteVenue(ctx context.Context, a Actor, id uuid.UUID) error
}

// EventService manages and finds events.
type EventService interface {
	CreateEvent(ctx context.Context, a Actor, in EventInput) (*Event, error)
	// Event returns an event the viewer may see, else ENOTFOUND.
	Event(ctx context.Context, viewer Actor, id uuid.UUID) (*Event, error)
	Events(ctx context.Context, f EventFilter) (EventPage, error)
	PopularEvents(ctx context.Context, window time.Duration, limit int) ([]Event, error)
	UpdateEvent(ctx context.Context, a Actor, id uuid.UUID, p EventPatch) (*Event, error)
	// PublishEvent materializes the event's seats; ECONFLICT unless a draft.
	PublishEvent(ctx context.Context, a Actor, id uuid.UUID) (*Event, error)
	// CancelEvent stops sales; cancelling a cancelled event changes nothing
	// and reports changed == false.
	CancelEvent(ctx context.Context, a Actor, id uuid.UUID) (e *Event, changed bool, err error)
}

// SeatMapSource reads an event's seat map: sold from PostgreSQL, held from
// Redis.
type SeatMapSource interface {
	SeatMap(ctx context.Context, eventID uuid.UUID) (*SeatMap, error)
}

func checkText(bad map[string]string, field, v string, minLen, maxLen int) {
	n := utf8.RuneCountInString(v)
	switch {
	case minLen > 0 && n < minLen:
		bad[field] = "is required"
	case n > maxLen:
		bad[field] = fmt.Sprintf("at most %d characters", maxLen)
	}
}

func set[T any](dst *T, src *T) {
	if src != nil {
		*dst = *src
	}
}

// Hold is a short-lived, all-or-nothing claim on seats, kept in Redis.
type Hold struct {
	ID        uuid.UUID `json:"id"`
	EventID   uuid.UUID `json:"event_id"`
	UserID    uuid.UUID `json:"user_id"`
	SeatIDs   []string  `json:"seat_ids"`
	ExpiresAt time.Time `json:"expires_at"`
}
