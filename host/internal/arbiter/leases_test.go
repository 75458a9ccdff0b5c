package arbiter

import (
	"math/rand/v2"
	"testing"
)

// TestLeaseTable drives the table and a map side by side through random
// puts and deletes, tokens mostly rising as the arbiter issues them, some
// held long, and checks every lookup and the count agree.
func TestLeaseTable(t *testing.T) {
	for seed := uint64(0); seed < 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		var tab leaseTable
		want := map[Token]*request{}
		var live []Token
		next := Token(1)
		for step := 0; step < 5000; step++ {
			if len(live) == 0 || rng.IntN(100) < 52 {
				r := &request{}
				r.lease.Token = next
				next += Token(1 + rng.IntN(3))
				tab.put(r)
				want[r.lease.Token] = r
				live = append(live, r.lease.Token)
			} else {
				k := rng.IntN(len(live))
				if rng.IntN(4) > 0 {
					k = len(live) - 1 - rng.IntN(min(len(live), 8)) // mostly recent: short holds
				}
				tok := live[k]
				live = append(live[:k], live[k+1:]...)
				tab.del(tok)
				delete(want, tok)
			}
			if tab.n != len(want) {
				t.Fatalf("seed %d step %d: %d in the table, %d in the map", seed, step, tab.n, len(want))
			}
			if step%97 == 0 {
				for tok, r := range want {
					if tab.get(tok) != r {
						t.Fatalf("seed %d step %d: held %d not found", seed, step, tok)
					}
				}
			}
			for _, probe := range []Token{next - 1, next, Token(rng.IntN(int(next) + 1))} {
				if got := tab.get(probe); got != want[probe] {
					t.Fatalf("seed %d step %d: get(%d) = %v, want %v", seed, step, probe, got, want[probe])
				}
			}
		}
		n := 0
		tab.each(func(r *request) {
			n++
			if want[r.lease.Token] != r {
				t.Fatalf("seed %d: each gave %d, not held", seed, r.lease.Token)
			}
		})
		if n != len(want) {
			t.Fatalf("seed %d: each gave %d, want %d", seed, n, len(want))
		}
	}
}
