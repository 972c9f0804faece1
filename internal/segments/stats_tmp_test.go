package segments

import (
	"math/rand"
	"testing"
)

func TestTmpStats(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	var withMin, withMax, conflict, ranges, nonEmpty, split, dropped int
	for i := 0; i < 200000; i++ {
		b := make([]byte, rng.Intn(300))
		rng.Read(b)
		c := decodeFuzz(b)
		out := Apply(c.def, c.segs, c.r)
		checkInvariants(t, c, out)
		if len(out) > 0 { nonEmpty++ }
		if c.r.MinDuration > 0 { withMin++ }
		if c.r.MaxDuration > 0 { withMax++ }
		if len(c.def.TimeRanges) > 0 { ranges++ }
		if len(out) > len(c.segs) { split++ }
		if len(out) < len(c.segs) { dropped++ }
		if c.r.MaxDuration > 0 {
			for _, s := range out {
				if s.End-s.Start > c.r.MaxDuration+Tolerance { conflict++; break }
			}
		}
	}
	t.Logf("nonEmpty=%d min=%d max=%d ranges=%d split=%d fewer=%d conflictPieces=%d", nonEmpty, withMin, withMax, ranges, split, dropped, conflict)
}
