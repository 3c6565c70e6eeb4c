package place

import "fmt"

// PerTask dispatches each task with the policy its spec names (Task.Policy), or with the
// scheduler's default when it names none. Only dispatch policies can be mixed this way: a
// central queue owns the free slots and cannot share them.
type PerTask struct {
	def      Dispatcher
	byName   map[string]Dispatcher
	fallback int // tasks that named an unknown policy and got the default
}

var (
	_ Dispatcher = (*PerTask)(nil)
	_ Dispatcher = (*Tether)(nil)
	_ Dispatcher = (*Oracle)(nil)
	_ Dispatcher = (*P2C)(nil)
)

// NewPerTask builds every named dispatch policy from r with env; def must be among names.
func NewPerTask(r *Registry, env Env, def string, names ...string) (*PerTask, error) {
	p := &PerTask{byName: map[string]Dispatcher{}}
	for _, n := range append([]string{def}, names...) {
		if _, ok := p.byName[n]; ok {
			continue
		}
		pol, err := r.New(n, env)
		if err != nil {
			return nil, err
		}
		if pol.Dispatcher == nil {
			return nil, fmt.Errorf("place: %q is a central queue; per-task selection needs dispatch policies", n)
		}
		p.byName[n] = pol.Dispatcher
	}
	p.def = p.byName[def]
	return p, nil
}

func (p *PerTask) Name() string { return "per-task(" + p.def.Name() + ")" }

// Pick uses the task's named policy, or the default for an empty or unknown name.
func (p *PerTask) Pick(f *View, t *Task, now float64) Decision {
	if t.Policy != "" {
		if d, ok := p.byName[t.Policy]; ok {
			return d.Pick(f, t, now)
		}
		p.fallback++
	}
	return p.def.Pick(f, t, now)
}

// refund passes a refund for a decision not carried out to the policy that made it.
func (p *PerTask) refund(f *View, i int, t *Task) {
	d, ok := p.byName[t.Policy]
	if !ok {
		d = p.def
	}
	if r, ok := d.(refunder); ok {
		r.refund(f, i, t)
	}
}

// Fallbacks returns how many tasks named a policy this scheduler does not run.
func (p *PerTask) Fallbacks() int { return p.fallback }
