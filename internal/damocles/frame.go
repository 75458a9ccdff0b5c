package damocles

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// MaxLine bounds one protocol line. The largest is a c2 request, whose
// c1out is filecoin-ffi's C1 output (about 100 MB for a 64 GiB sector);
// this is the task API's own message bound (sdk/client.MaxMessageSize).
const MaxLine = 256 << 20

// ReadyLine is the first line a processor for stage writes, without its
// newline; the worker compares it after trimming blanks.
func ReadyLine(stage string) string { return stage + " processor ready" }

// Request is one task sent to a processor. Task is the stage's task body
// (see Codec), still encoded.
type Request struct {
	ID   uint64
	Task json.RawMessage
}

// Response is a processor's answer to request ID. A failure has ErrMsg set
// and no Output; a success has Output and a nil ErrMsg.
type Response struct {
	ID     uint64
	ErrMsg *string
	Output json.RawMessage
}

// OK is the successful response to id.
func OK(id uint64, output json.RawMessage) Response { return Response{ID: id, Output: output} }

// Failure is the failed response to id.
func Failure(id uint64, format string, args ...any) Response {
	msg := fmt.Sprintf(format, args...)
	return Response{ID: id, ErrMsg: &msg}
}

// Result is what damocles' producer makes of a response: the error
// message as an error, else the output, and a success without output is
// the error damocles reports ("output field lost").
func (r Response) Result() (json.RawMessage, error) {
	if r.ErrMsg != nil {
		return nil, errors.New(*r.ErrMsg)
	}
	if isNull(r.Output) {
		return nil, fmt.Errorf("response %d: output field lost (neither err_msg nor output is set)", r.ID)
	}
	return r.Output, nil
}

// EncodeRequest is the line (newline included) carrying a request.
func EncodeRequest(r Request) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"id":`)
	b.WriteString(strconv.FormatUint(r.ID, 10))
	b.WriteString(`,"task":`)
	if err := compactValue(&b, r.Task); err != nil {
		return nil, fmt.Errorf("request %d: task: %w", r.ID, err)
	}
	b.WriteString("}\n")
	return b.Bytes(), nil
}

// EncodeResponse is the line (newline included) carrying a response, with
// its keys in the order serde writes them.
func EncodeResponse(r Response) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"id":`)
	b.WriteString(strconv.FormatUint(r.ID, 10))
	b.WriteString(`,"err_msg":`)
	if r.ErrMsg == nil {
		b.WriteString("null")
	} else {
		writeString(&b, *r.ErrMsg)
	}
	b.WriteString(`,"output":`)
	if r.ErrMsg != nil || isNull(r.Output) {
		b.WriteString("null")
	} else if err := compactValue(&b, r.Output); err != nil {
		return nil, fmt.Errorf("response %d: output: %w", r.ID, err)
	}
	b.WriteString("}\n")
	return b.Bytes(), nil
}

// DecodeRequest reads one request line. When it fails, idOK says whether
// the id could still be read (req.ID holds it): such a request deserves a
// failed response naming the problem, where damocles' own consumer logs it
// and leaves the worker waiting forever.
func DecodeRequest(line []byte) (req Request, idOK bool, err error) {
	line = bytes.TrimSpace(line)
	f, err := object(line)
	if err != nil {
		if id, ok := LeadingID(line); ok {
			return Request{ID: id}, true, fmt.Errorf("request %d cannot be read: %v", id, err)
		}
		return Request{}, false, fmt.Errorf("not a request: %v", err)
	}
	if err := f.get("id", &req.ID); err != nil {
		return Request{}, false, fmt.Errorf("not a request: %v", err)
	}
	raw, err := f.raw("task")
	if err != nil {
		return Request{ID: req.ID}, true, fmt.Errorf("request %d: %v", req.ID, err)
	}
	req.Task = raw
	return req, true, nil
}

// DecodeResponse reads one response line. err_msg and output may be
// missing, as serde reads a missing Option as None.
func DecodeResponse(line []byte) (Response, error) {
	f, err := object(bytes.TrimSpace(line))
	if err != nil {
		return Response{}, fmt.Errorf("not a response: %v", err)
	}
	var r Response
	if err := f.get("id", &r.ID); err != nil {
		return Response{}, fmt.Errorf("not a response: %v", err)
	}
	if raw, ok := f.m["err_msg"]; ok && !isNull(raw) {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return Response{}, fmt.Errorf("response %d: err_msg is not a string or null: %v", r.ID, err)
		}
		r.ErrMsg = &s
	}
	if raw, ok := f.m["output"]; ok && !isNull(raw) {
		r.Output = raw
	}
	return r, nil
}

// LeadingID reads the id of a line that starts as serde writes a request,
// {"id":N, even when the rest is not JSON (cut short, corrupted).
func LeadingID(line []byte) (uint64, bool) {
	s := bytes.TrimLeft(line, " \t\r\n")
	for _, tok := range []string{"{", `"id"`, ":"} {
		if !bytes.HasPrefix(s, []byte(tok)) {
			return 0, false
		}
		s = bytes.TrimLeft(s[len(tok):], " \t\r\n")
	}
	n := 0
	for n < len(s) && n < 21 && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	if n == 0 || (n < len(s) && !bytes.ContainsAny(s[n:n+1], ", \t\r\n}")) {
		return 0, false
	}
	id, err := strconv.ParseUint(string(s[:n]), 10, 64)
	return id, err == nil
}

// ErrLineTooLong is returned by LineReader.ReadLine for a line over its
// bound; the reader has skipped the rest of that line.
var ErrLineTooLong = errors.New("line too long")

// LineReader reads newline-terminated lines of at most max bytes.
type LineReader struct {
	r   *bufio.Reader
	max int
}

// NewLineReader reads lines of at most max bytes from r.
func NewLineReader(r io.Reader, max int) *LineReader {
	return &LineReader{r: bufio.NewReaderSize(r, 64<<10), max: max}
}

// ReadLine returns the next line without its newline. A line over the
// bound returns its first 64 bytes (enough for LeadingID) with
// ErrLineTooLong, and the line is skipped. A last line without newline is
// returned; then io.EOF.
func (l *LineReader) ReadLine() ([]byte, error) {
	var line []byte
	n := 0 // bytes of this line read so far, newline included
	for {
		frag, err := l.r.ReadSlice('\n')
		n += len(frag)
		if n <= l.max+1 {
			line = append(line, frag...)
		} else if len(line) < 64 {
			line = append(line, frag[:min(len(frag), 64-len(line))]...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil && (err != io.EOF || n == 0) {
			return nil, err
		}
		size := n
		if len(frag) > 0 && frag[len(frag)-1] == '\n' {
			size--
		}
		if size > l.max {
			return line[:min(len(line), 64)], fmt.Errorf("%w: over %d bytes", ErrLineTooLong, l.max)
		}
		return bytes.TrimSuffix(line, []byte("\n")), nil
	}
}

// compactValue writes raw, which must be one JSON value, without
// insignificant whitespace, so it cannot break the line framing.
func compactValue(b *bytes.Buffer, raw json.RawMessage) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		return errors.New("empty")
	}
	if compact(raw) && valid(raw) {
		b.Write(raw) // what our own encoders write: no second pass
		return nil
	}
	if err := json.Compact(b, raw); err != nil {
		return fmt.Errorf("not a JSON value: %v", err)
	}
	return nil
}

// writeString writes s as a JSON string without Go's HTML escaping (serde
// does not escape <, > or &).
func writeString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)           // a string always encodes
	b.Truncate(b.Len() - 1) // Encode's newline
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}
