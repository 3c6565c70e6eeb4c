package powerloss

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
)

// The NBD protocol as far as qemu's client needs it: the fixed newstyle
// handshake (NBD_OPT_GO, NBD_OPT_EXPORT_NAME) and simple replies to READ,
// WRITE (with FUA), FLUSH and DISC. Spec: the NBD project's doc/proto.md.
const (
	nbdMagic       = 0x4e42444d41474943 // "NBDMAGIC"
	nbdOptMagic    = 0x49484156454f5054 // "IHAVEOPT"
	nbdRepMagic    = 0x0003e889045565a9
	nbdReqMagic    = 0x25609513
	nbdSimpleReply = 0x67446698

	nbdFlagFixedNewstyle = 1
	nbdFlagNoZeroes      = 2

	nbdOptExportName = 1
	nbdOptAbort      = 2
	nbdOptInfo       = 6
	nbdOptGo         = 7

	nbdRepAck         = 1
	nbdRepInfo        = 3
	nbdRepErrUnsup    = 1<<31 + 1
	nbdInfoExport     = 0
	nbdTransHasFlags  = 1
	nbdTransSendFlush = 4
	nbdTransSendFUA   = 8

	nbdCmdRead    = 0
	nbdCmdWrite   = 1
	nbdCmdDisc    = 2
	nbdCmdFlush   = 3
	nbdCmdFlagFUA = 1

	nbdEIO    = 5
	nbdEINVAL = 22
)

// nbdServer serves one volatileDisk to one qemu over a unix socket.
type nbdServer struct {
	Socket string

	dir  string
	ln   net.Listener
	done chan struct{}
	err  error // set before done is closed
}

// startNBD listens on a socket in a fresh temporary directory (a socket
// path must stay under ~108 bytes) and serves the first connection.
func startNBD(d *volatileDisk) (*nbdServer, error) {
	dir, err := os.MkdirTemp("", "tether-pl-nbd-")
	if err != nil {
		return nil, err
	}
	s := &nbdServer{Socket: filepath.Join(dir, "disk.sock"), dir: dir, done: make(chan struct{})}
	if s.ln, err = net.Listen("unix", s.Socket); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	go func() { // owned by s; ends when qemu disconnects or dies, or Close
		defer close(s.done)
		c, err := s.ln.Accept()
		if err != nil {
			return // closed before qemu connected
		}
		defer c.Close()
		s.err = serveNBD(c, d)
	}()
	return s, nil
}

// Close stops listening and waits for the connection to end (call it after
// qemu is gone). It returns what went wrong while serving, if anything.
func (s *nbdServer) Close() error {
	s.ln.Close()
	<-s.done
	os.RemoveAll(s.dir)
	return s.err
}

// serveNBD speaks NBD on rw until the client leaves. A client that
// vanishes (qemu killed) is not an error.
func serveNBD(rw io.ReadWriter, d *volatileDisk) error {
	r, w := bufio.NewReader(rw), bufio.NewWriter(rw)
	err := nbdHandshake(r, w, d.size)
	if err == nil {
		err = nbdTransmit(r, w, d)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || isPeerGone(err) {
		return nil
	}
	return err
}

// isPeerGone: a read or write on the socket failed, which only the peer
// going away (qemu killed) causes.
func isPeerGone(err error) bool {
	var op *net.OpError
	return errors.As(err, &op)
}

func put(w io.Writer, vs ...any) {
	for _, v := range vs {
		binary.Write(w, binary.BigEndian, v)
	}
}

func nbdHandshake(r *bufio.Reader, w *bufio.Writer, size int64) error {
	put(w, uint64(nbdMagic), uint64(nbdOptMagic), uint16(nbdFlagFixedNewstyle|nbdFlagNoZeroes))
	if err := w.Flush(); err != nil {
		return err
	}
	var clientFlags uint32
	if err := binary.Read(r, binary.BigEndian, &clientFlags); err != nil {
		return err
	}
	const tflags = uint16(nbdTransHasFlags | nbdTransSendFlush | nbdTransSendFUA)
	for {
		var hdr struct {
			Magic    uint64
			Opt, Len uint32
		}
		if err := binary.Read(r, binary.BigEndian, &hdr); err != nil {
			return err
		}
		if hdr.Magic != nbdOptMagic || hdr.Len > 1<<16 {
			return fmt.Errorf("nbd: bad option header %+v", hdr)
		}
		if _, err := r.Discard(int(hdr.Len)); err != nil { // export name, info requests: one export, nothing to choose
			return err
		}
		reply := func(typ uint32, data []byte) {
			put(w, uint64(nbdRepMagic), hdr.Opt, typ, uint32(len(data)))
			w.Write(data)
		}
		switch hdr.Opt {
		case nbdOptExportName:
			put(w, uint64(size), tflags)
			if clientFlags&nbdFlagNoZeroes == 0 {
				w.Write(make([]byte, 124))
			}
			return w.Flush()
		case nbdOptInfo, nbdOptGo:
			info := binary.BigEndian.AppendUint16(nil, nbdInfoExport)
			info = binary.BigEndian.AppendUint64(info, uint64(size))
			info = binary.BigEndian.AppendUint16(info, tflags)
			reply(nbdRepInfo, info)
			reply(nbdRepAck, nil)
			if err := w.Flush(); err != nil || hdr.Opt == nbdOptGo {
				return err
			}
		case nbdOptAbort:
			reply(nbdRepAck, nil)
			w.Flush()
			return io.EOF
		default: // structured replies, meta contexts, TLS, lists: not offered
			reply(nbdRepErrUnsup, nil)
			if err := w.Flush(); err != nil {
				return err
			}
		}
	}
}

func nbdTransmit(r *bufio.Reader, w *bufio.Writer, d *volatileDisk) error {
	var buf []byte
	for {
		var req struct {
			Magic       uint32
			Flags, Type uint16
			Handle      uint64
			Offset      uint64
			Length      uint32
		}
		if err := binary.Read(r, binary.BigEndian, &req); err != nil {
			return err
		}
		if req.Magic != nbdReqMagic {
			return fmt.Errorf("nbd: bad request magic %#x", req.Magic)
		}
		if req.Length > 32<<20 {
			return fmt.Errorf("nbd: request of %d bytes", req.Length)
		}
		var errno uint32
		var data []byte
		fail := func(err error) {
			if err != nil {
				errno = nbdEIO
			}
		}
		switch req.Type {
		case nbdCmdRead:
			buf = grow(buf, int(req.Length))
			fail(d.ReadAt(buf, int64(req.Offset)))
			data = buf
		case nbdCmdWrite:
			buf = grow(buf, int(req.Length))
			if _, err := io.ReadFull(r, buf); err != nil {
				return err
			}
			fail(d.WriteAt(buf, int64(req.Offset), req.Flags&nbdCmdFlagFUA != 0))
		case nbdCmdFlush:
			fail(d.Flush())
		case nbdCmdDisc:
			return nil
		default:
			errno = nbdEINVAL
		}
		put(w, uint32(nbdSimpleReply), errno, req.Handle)
		if errno == 0 && data != nil {
			w.Write(data)
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
}

func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}
