package store

// PendingFrom is the oldest seq the outbox still holds (neither
// acknowledged nor removed by its bounds), or the next seq to be made when
// it holds none. Every record with a smaller seq was delivered or dropped:
// messages carry it as Header.From so the scheduler can tell a backlog
// still on its way from a gap.
func (s *Store) PendingFrom() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.ix.oldestLive(); ok {
		return e.seq
	}
	return s.next
}
