package format

import (
	"fmt"
	"time"
)

// HumanDuration says how long d is the way docker does ("Less than a
// second", "47 seconds", "About a minute", "2 hours", "3 days").
func HumanDuration(d time.Duration) string {
	seconds := int(d.Seconds())
	switch {
	case seconds < 1:
		return "Less than a second"
	case seconds == 1:
		return "1 second"
	case seconds < 60:
		return fmt.Sprintf("%d seconds", seconds)
	}
	minutes := int(d.Minutes())
	switch {
	case minutes == 1:
		return "About a minute"
	case minutes < 60:
		return fmt.Sprintf("%d minutes", minutes)
	}
	// Hours are rounded, so 89 minutes is "2 hours" as docker says.
	hours := int(d.Hours() + 0.5)
	const day, week, month, year = 24, 24 * 7, 24 * 30, 24 * 365
	switch {
	case hours == 1:
		return "About an hour"
	case hours < 2*day:
		return fmt.Sprintf("%d hours", hours)
	case hours < 2*week:
		return fmt.Sprintf("%d days", hours/day)
	case hours < 2*month:
		return fmt.Sprintf("%d weeks", hours/week)
	case hours < 2*year:
		return fmt.Sprintf("%d months", hours/month)
	}
	return fmt.Sprintf("%d years", int(d.Hours())/year)
}

// Ago is "<HumanDuration> ago" for an instant before now; the zero time
// has no age.
func Ago(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return HumanDuration(now.Sub(t)) + " ago"
}
