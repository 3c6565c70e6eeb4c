package place

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
)

// Env is what a policy constructor may use.
type Env struct {
	Rand    *rand.Rand // required for randomised policies
	Truth   Estimator  // required by the oracle only
	Tether  TetherOptions
	Central CentralOptions
}

// Policy is a constructed policy: exactly one of Dispatcher and Central is set.
type Policy struct {
	Dispatcher Dispatcher
	Central    *Central
}

// Name returns the policy's name.
func (p Policy) Name() string {
	if p.Central != nil {
		return p.Central.Name()
	}
	return p.Dispatcher.Name()
}

// Maker constructs a policy from an environment.
type Maker func(Env) (Policy, error)

// Registry maps policy names to constructors. It is built explicitly (NewRegistry), never
// from init functions, so a scheduler or simulator holds exactly the policies it was given.
type Registry struct{ makers map[string]Maker }

// NewRegistry returns a registry holding every built-in policy.
func NewRegistry() *Registry {
	r := &Registry{makers: map[string]Maker{}}
	dispatch := func(mk func(Env) Dispatcher) Maker {
		return func(e Env) (Policy, error) {
			if e.Rand == nil {
				return Policy{}, errors.New("place: policy needs a random source")
			}
			return Policy{Dispatcher: mk(e)}, nil
		}
	}
	r.Register("rr", dispatch(func(Env) Dispatcher { return &RoundRobin{} }))
	r.Register("random", dispatch(func(e Env) Dispatcher { return NewRandom(e.Rand) }))
	r.Register("wrandom", dispatch(func(e Env) Dispatcher { return NewWeightedRandom(e.Rand) }))
	r.Register("least-loaded", dispatch(func(e Env) Dispatcher { return NewLeastLoaded(e.Rand) }))
	r.Register("least-work", dispatch(func(e Env) Dispatcher { return NewLeastWork(e.Rand) }))
	r.Register("p2c", dispatch(func(e Env) Dispatcher { return NewP2C(e.Rand) }))
	r.Register("tether", dispatch(func(e Env) Dispatcher { return NewTether(e.Rand, e.Tether) }))
	r.Register("oracle", func(e Env) (Policy, error) {
		if e.Truth == nil {
			return Policy{}, errors.New("place: the oracle needs a truth estimator (simulator only)")
		}
		return Policy{Dispatcher: NewOracle(e.Truth)}, nil
	})
	for name, o := range map[string]Order{
		"fifo": OrderFIFO, "sjf": OrderSJF, "srtf": OrderSRTF, "edf": OrderEDF, "priority": OrderPriority,
	} {
		r.Register(name, func(e Env) (Policy, error) {
			opt := e.Central
			if opt.Slots == nil && e.Rand != nil {
				opt.Slots = NewTether(e.Rand, e.Tether)
			}
			return Policy{Central: NewCentral(name, o, opt)}, nil
		})
	}
	return r
}

// Register adds or replaces a policy.
func (r *Registry) Register(name string, m Maker) { r.makers[name] = m }

// New constructs the named policy.
func (r *Registry) New(name string, e Env) (Policy, error) {
	m, ok := r.makers[name]
	if !ok {
		return Policy{}, fmt.Errorf("place: unknown policy %q (have %v)", name, r.Names())
	}
	return m(e)
}

// Names returns the registered policy names, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.makers))
	for n := range r.makers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
