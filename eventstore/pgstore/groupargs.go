package pgstore

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/ticketledger/ticketledger/eventstore"
)

// The group statement's parameters are arrays holding every event of the group, tens of
// kilobytes under load. Given as Go slices, pgx encodes them through reflection into a
// buffer it shrinks after each statement, allocating several times their size for every
// group; the group writer, which every waiting command depends on, then also pays the
// garbage collector's assists for it while a collection marks. groupArgs encodes them in
// PostgreSQL's binary array format into a buffer kept from one group to the next, and the
// statement runs prepared with them as they are.

// groupStatement is the name of groupSQL prepared on a connection.
const groupStatement = "pgstore_group_append"

// Type OIDs of the elements of the group statement's arrays.
const (
	oidBytea = 17
	oidInt8  = 20
	oidText  = 25
	oidUUID  = 2950
)

// groupArgs holds the encoded parameters of one group statement.
type groupArgs struct {
	buf    []byte
	params [][]byte
}

var groupArgsPool = sync.Pool{New: func() any { return &groupArgs{params: make([][]byte, 7)} }}

// binaryFormat asks for every parameter and result column in binary.
var binaryFormat = []int16{1}

// encode encodes the parameters of groupSQL for the n events of group.
func (a *groupArgs) encode(group []*queuedAppend, n int) {
	var ends [7]int
	a.buf = a.buf[:0]
	each := func(elem uint32, hasNull bool, add func(q *queuedAppend, i int)) int {
		a.buf = arrayHeader(a.buf, elem, n, hasNull)
		for _, q := range group {
			for i := range q.events {
				add(q, i)
			}
		}
		return len(a.buf)
	}
	ends[0] = each(oidText, false, func(q *queuedAppend, _ int) { a.buf = appendElem(a.buf, q.stream) })
	ends[1] = each(oidInt8, false, func(q *queuedAppend, _ int) { a.buf = appendInt8(a.buf, q.expected) })
	ends[2] = each(oidInt8, false, func(q *queuedAppend, i int) { a.buf = appendInt8(a.buf, q.expected+int64(i)+1) })
	ends[3] = each(oidUUID, false, func(q *queuedAppend, i int) { a.buf = appendElem(a.buf, q.events[i].ID[:]) })
	ends[4] = each(oidText, false, func(q *queuedAppend, i int) { a.buf = appendElem(a.buf, q.events[i].Type) })
	ends[5] = each(oidBytea, anyNil(group, func(e eventstore.EventData) []byte { return e.Data }),
		func(q *queuedAppend, i int) { a.buf = appendBytes(a.buf, q.events[i].Data) })
	ends[6] = each(oidBytea, anyNil(group, func(e eventstore.EventData) []byte { return e.Metadata }),
		func(q *queuedAppend, i int) { a.buf = appendBytes(a.buf, q.events[i].Metadata) })
	start := 0
	for i, end := range ends {
		a.params[i] = a.buf[start:end:end]
		start = end
	}
}

// anyNil reports whether field is nil for some event of group: a nil slice is a NULL.
func anyNil(group []*queuedAppend, field func(eventstore.EventData) []byte) bool {
	for _, q := range group {
		for _, e := range q.events {
			if field(e) == nil {
				return true
			}
		}
	}
	return false
}

// arrayHeader appends the header of a one-dimensional array of n elements of type elem.
func arrayHeader(b []byte, elem uint32, n int, hasNull bool) []byte {
	flags := uint32(0)
	if hasNull {
		flags = 1
	}
	b = binary.BigEndian.AppendUint32(b, 1)
	b = binary.BigEndian.AppendUint32(b, flags)
	b = binary.BigEndian.AppendUint32(b, elem)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	return binary.BigEndian.AppendUint32(b, 1)
}

// appendElem appends an element of a text or fixed-size binary value.
func appendElem[T string | []byte](b []byte, v T) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
	return append(b, v...)
}

// appendBytes appends a bytea element, NULL for a nil slice.
func appendBytes(b []byte, v []byte) []byte {
	if v == nil {
		return binary.BigEndian.AppendUint32(b, 0xFFFFFFFF)
	}
	return appendElem(b, v)
}

// appendInt8 appends a bigint element.
func appendInt8(b []byte, v int64) []byte {
	b = binary.BigEndian.AppendUint32(b, 8)
	return binary.BigEndian.AppendUint64(b, uint64(v))
}

// insertGroup runs groupSQL, prepared, with the encoded parameters of group (n events)
// and returns the version and position of the last event written in each stream.
func (g *groups) insertGroup(group []*queuedAppend, n int) (map[string]eventstore.AppendResult, error) {
	ctx := g.s.ctx
	a := groupArgsPool.Get().(*groupArgs)
	defer groupArgsPool.Put(a)
	a.encode(group, n)
	conn, err := g.s.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Release()
	if _, err := conn.Conn().Prepare(ctx, groupStatement, groupSQL); err != nil {
		return nil, err
	}
	rr := conn.Conn().PgConn().ExecPrepared(ctx, groupStatement, a.params, binaryFormat, binaryFormat)
	written := map[string]eventstore.AppendResult{}
	var bad error
	for rr.NextRow() {
		if bad != nil {
			continue
		}
		var r eventstore.AppendResult
		var stream string
		stream, r, bad = groupRow(rr.Values())
		if bad == nil {
			if w, ok := written[stream]; !ok || r.Version > w.Version {
				written[stream] = r
			}
		}
	}
	if _, err := rr.Close(); err != nil {
		return nil, err
	}
	return written, bad
}

// groupRow decodes a row groupSQL returns: stream, transaction id as text, position and
// version, all in binary.
func groupRow(v [][]byte) (string, eventstore.AppendResult, error) {
	if len(v) != 4 || len(v[2]) != 8 || len(v[3]) != 8 {
		return "", eventstore.AppendResult{}, fmt.Errorf("pgstore: the group statement returned an unexpected row")
	}
	p, err := makePosition(string(v[1]), int64(binary.BigEndian.Uint64(v[2])))
	if err != nil {
		return "", eventstore.AppendResult{}, err
	}
	return string(v[0]), eventstore.AppendResult{Version: binary.BigEndian.Uint64(v[3]), Position: p}, nil
}
