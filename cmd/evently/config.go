package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"reflect"
	"sort"
	"strings"

	"github.com/evently/evently/app"
)

const configAbout = `One NAME=value line per environment variable Evently reads, sorted: the
value it would run with (the default when the variable is unset). Secrets
show as (set, redacted) or (unset), passwords in URLs as xxxxx. A malformed
configuration fails as it would for any command.`

func configCommand(fs *flag.FlagSet, c *app.Config) action {
	asJSON := fs.Bool("json", false, "print one JSON object, names to values, instead")
	return func(_ context.Context, out io.Writer, _ []string) error {
		vars := settings(*c)
		if *asJSON {
			m := make(map[string]string, len(vars))
			for _, v := range vars {
				m[v.name] = v.value
			}
			enc := json.NewEncoder(out)
			enc.SetIndent("", "  ")
			return enc.Encode(m)
		}
		for _, v := range vars {
			fmt.Fprintf(out, "%s=%s\n", v.name, v.value)
		}
		return nil
	}
}

type setting struct{ name, value string }

// settings lists every variable in c by walking its env tags the way
// github.com/caarlos0/env reads them (nested structs, envPrefix), so a new
// variable shows up here without a list to keep. Values are redacted.
func settings(c app.Config) []setting {
	var out []setting
	var walk func(v reflect.Value, prefix string)
	walk = func(v reflect.Value, prefix string) {
		t := v.Type()
		for i := range t.NumField() {
			f, fv := t.Field(i), v.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
			if name == "" || name == "-" {
				if fv.Kind() == reflect.Pointer && !fv.IsNil() {
					fv = fv.Elem()
				}
				if fv.Kind() == reflect.Struct {
					walk(fv, prefix+f.Tag.Get("envPrefix"))
				}
				continue
			}
			name = prefix + name
			out = append(out, setting{name, redact(name, format(fv, f))})
		}
	}
	walk(reflect.ValueOf(c), "")
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// format writes a value as it would be written in the environment.
func format(v reflect.Value, f reflect.StructField) string {
	if v.Kind() == reflect.Slice {
		sep := f.Tag.Get("envSeparator")
		if sep == "" {
			sep = ","
		}
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = fmt.Sprint(v.Index(i).Interface())
		}
		return strings.Join(parts, sep)
	}
	return fmt.Sprint(v.Interface())
}

// redact hides secrets: whole values of variables named like one (by name,
// so a new secret is covered), and passwords inside URLs (in the user
// info or a password query parameter, as libpq accepts).
func redact(name, value string) string {
	if secretName(name) {
		if value == "" {
			return "(unset)"
		}
		return "(set, redacted)"
	}
	if !strings.Contains(value, "://") {
		return value
	}
	parts := strings.Split(value, ",") // KAFKA_BROKERS-style lists
	for i, p := range parts {
		u, err := url.Parse(p)
		if err != nil {
			continue // not a URL after all; LoadConfig names real problems
		}
		changed := false
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			changed = true
		}
		q := u.Query()
		for k := range q {
			if secretName(strings.ToUpper(k)) {
				q.Set(k, "xxxxx")
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}

func secretName(name string) bool {
	for _, w := range []string{"SECRET", "PASSWORD", "TOKEN"} {
		if strings.Contains(name, w) {
			return true
		}
	}
	return strings.HasSuffix(name, "_KEY")
}
