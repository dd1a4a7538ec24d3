package rules

import (
	"fmt"
	"math/big"
	"time"
)

// Tier says whether a burn-rate window pair pages someone now or opens a
// ticket for working hours.
type Tier string

// The two tiers of the SRE workbook's multiwindow, multi-burn-rate alerts.
const (
	TierPage   Tier = "page"
	TierTicket Tier = "ticket"
)

// Window is one long/short window pair. The pair fires when the burn rate over
// both windows exceeds Factor.
type Window struct {
	Long     time.Duration
	Short    time.Duration
	Factor   float64
	Tier     Tier
	Severity string
}

// defaultWindow is a row of the SRE workbook's table: burning BudgetPercent of
// the whole budget within Long triggers the pair.
type defaultWindow struct {
	budgetPercent int64
	long, short   time.Duration
	tier          Tier
}

// The SRE workbook's recommended table (chapter 5, "Alerting on SLOs").
var defaultWindows = [...]defaultWindow{
	{2, time.Hour, 5 * time.Minute, TierPage},
	{5, 6 * time.Hour, 30 * time.Minute, TierPage},
	{10, 24 * time.Hour, 2 * time.Hour, TierTicket},
	{10, 72 * time.Hour, 6 * time.Hour, TierTicket},
}

// BurnFactor is the burn rate at which budgetPercent of the budget of an SLO
// over sloWindow is consumed within long. It is computed with rationals so that
// 30d gives exactly 14.4, 6, 3 and 1.
func BurnFactor(budgetPercent *big.Rat, sloWindow, long time.Duration) float64 {
	f := new(big.Rat).Quo(budgetPercent, big.NewRat(100, 1))
	f.Mul(f, new(big.Rat).SetFrac64(int64(sloWindow), int64(long)))
	v, _ := f.Float64()
	return v
}

// DefaultWindows returns the workbook table scaled to sloWindow. Pairs whose
// long window exceeds the SLO window are left out: they would look further back
// than the objective itself.
func DefaultWindows(sloWindow time.Duration, pageSeverity, ticketSeverity string) []Window {
	var ws []Window
	for _, d := range defaultWindows {
		if d.long > sloWindow {
			continue
		}
		sev := ticketSeverity
		if d.tier == TierPage {
			sev = pageSeverity
		}
		ws = append(ws, Window{
			Long:     d.long,
			Short:    d.short,
			Factor:   BurnFactor(big.NewRat(d.budgetPercent, 1), sloWindow, d.long),
			Tier:     d.tier,
			Severity: sev,
		})
	}
	return ws
}

// String names the pair as it appears in alert labels, e.g. "1h/5m".
func (w Window) String() string {
	return fmt.Sprintf("%s/%s", Duration(w.Long), Duration(w.Short))
}
