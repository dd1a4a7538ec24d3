package rules

import "time"

// Calendar is a budget period aligned to the calendar; the zero value is a
// rolling window.
type Calendar string

// Calendar periods.
const (
	CalendarMonth Calendar = "month"
	CalendarWeek  Calendar = "week"
)

const day = 24 * time.Hour

// A calendar period has three lengths, each for its own question. They live
// here together so that no caller picks one by accident.

// Nominal is the length burn-rate factors are scaled by: the SRE workbook's
// table assumes a 30-day month, and a factor must not change from one month
// to the next.
func (c Calendar) Nominal() time.Duration {
	if c == CalendarMonth {
		return 30 * day
	}
	return 7 * day
}

// Shortest is the shortest period there is: a window pair must fit into
// every month, February included.
func (c Calendar) Shortest() time.Duration {
	if c == CalendarMonth {
		return 28 * day
	}
	return 7 * day
}

// Longest is the longest period there is: what a store of the period's
// events must keep.
func (c Calendar) Longest() time.Duration {
	if c == CalendarMonth {
		return 31 * day
	}
	return 7 * day
}

// Period returns the period that contains t in loc: the calendar month, or
// the ISO week (Monday first), with its real length.
func (c Calendar) Period(t time.Time, loc *time.Location) (start time.Time, length time.Duration) {
	lt := t.In(loc)
	if c == CalendarMonth {
		start = time.Date(lt.Year(), lt.Month(), 1, 0, 0, 0, 0, loc)
		return start, start.AddDate(0, 1, 0).Sub(start)
	}
	wd := (int(lt.Weekday()) + 6) % 7 // Monday = 0
	start = time.Date(lt.Year(), lt.Month(), lt.Day()-wd, 0, 0, 0, 0, loc)
	return start, start.AddDate(0, 0, 7).Sub(start)
}
