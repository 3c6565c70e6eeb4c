package mqttd

// Stats are the broker's counters, as mochi keeps them (read atomically).
type Stats struct {
	ClientsConnected    int64 // connections open now
	ClientsDisconnected int64 // persistent sessions kept without a connection
	MessagesReceived    int64 // PUBLISH packets received since start
	MessagesSent        int64
	MessagesDropped     int64 // to clean-session subscribers that fell behind
	BytesReceived       int64
	BytesSent           int64
	Retained            int64 // retained messages held now
	Inflight            int64 // QoS 1/2 messages awaiting acknowledgement
	// Refused counts publishes refused without a PUBACK because a
	// persistent session they go to was full and their publisher may not
	// be held (a scheduler), or its connection ended while held: each is
	// sent again by its publisher; a count that climbs names a node that
	// has stopped reading its commands.
	Refused int64
}

// Stats returns the broker's counters now.
func (s *Server) Stats() Stats {
	i := s.mochi.Info.Clone()
	return Stats{
		ClientsConnected: i.ClientsConnected, ClientsDisconnected: i.ClientsDisconnected,
		MessagesReceived: i.MessagesReceived, MessagesSent: i.MessagesSent, MessagesDropped: i.MessagesDropped,
		BytesReceived: i.BytesReceived, BytesSent: i.BytesSent, Retained: i.Retained, Inflight: i.Inflight,
		Refused: s.flow.refusals.Load(),
	}
}
