package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/evently/evently"
	"github.com/evently/evently/evtest"
	"github.com/evently/evently/evtest/apptest"
	"github.com/evently/evently/store"
)

// BenchmarkCommitBatch measures the booking worker's transaction alone:
// book commands of 2 seats each on one 20,000-seat event, committed in
// batches of the given size. ns/op is per booking.
func BenchmarkCommitBatch(b *testing.B) {
	for _, size := range []int{1, 10, 50, 200, 500} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			db := evtest.DB(b)
			event := apptest.EventIn(b, db, 20000)
			user := evently.NewID()
			if _, err := db.Exec(`INSERT INTO users (id, email, password_hash) VALUES ($1, $2, '\x00')`, user, user.String()+"@x.test"); err != nil {
				b.Fatal(err)
			}
			bk := &store.Bookings{DB: db, Consumer: "bench", PaymentWindow: time.Minute}
			seat := 0
			b.ResetTimer()
			for done := 0; done < b.N; {
				n := min(size, b.N-done)
				cmds := make([]evently.Command, n)
				for i := range cmds {
					if seat+2 > 20000 {
						b.StopTimer()
						if _, err := db.Exec(`UPDATE event_seats SET status = 'available', booking_id = NULL WHERE event_id = $1;
							UPDATE booking_seats SET active = false`, event); err != nil {
							b.Fatal(err)
						}
						seat = 0
						b.StartTimer()
					}
					c := &evently.BookCommand{BookingID: evently.NewID(), UserID: user, EventID: event,
						SeatIDs: []string{fmt.Sprintf("A-%d", seat+1), fmt.Sprintf("A-%d", seat+2)}, AcceptedAt: time.Now()}
					seat += 2
					cmds[i] = evently.Command{MessageID: evently.NewID(), Type: evently.CmdBook, Book: c}
				}
				if _, err := bk.CommitBatch(context.Background(), cmds); err != nil {
					b.Fatal(err)
				}
				done += n
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "bookings/s")
		})
	}
}
