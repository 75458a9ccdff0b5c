package daemon

import (
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// blobName is the message that names a file for a plugin to read and then
// remove: only the host may make one (pluginclient, in the processor's own
// directory).
var blobName = (&sealv1.Blob{}).ProtoReflect().Descriptor().FullName()

// Bounds on what a task request may carry besides its payloads (bytes
// fields: phase-1 outputs, bounded by the message size). A path or CID
// longer than PATH_MAX names nothing; more pieces than a sector can hold
// deals is not a sector. Unbounded, four 16 MiB "paths" in one request
// were copied into a 256 MiB pc1 plugin until the kernel killed it.
const (
	maxString = 4096 // Linux PATH_MAX, with the terminating NUL
	maxList   = 512  // a sector holds at most 256 deals (actors' DealLimit for 32GiB and up)
	// maxPoStSectors bounds a PoSt request's sectors: a window_post
	// partition holds up to 2349 sectors (32GiB and 64GiB) and a caller
	// may prove the partitions of a whole message (lotus batches up to
	// ten) in one call.
	maxPoStSectors = 10 * 2349
)

// postSector is the message whose lists get maxPoStSectors.
var postSector = (&sealv1.PoStSector{}).ProtoReflect().Descriptor().FullName()

// listBound is how many entries the list field fd may hold.
func listBound(fd protoreflect.FieldDescriptor) int {
	if fd.Message() != nil && fd.Message().FullName() == postSector {
		return maxPoStSectors
	}
	return maxList
}

// refuseHostFields rejects a task request that sets a field only the host
// may set: any Blob (a plugin reads and removes the file it names, as
// root when the plugin runs as root) and response_blob_dir (where a plugin
// writes its output). Passed on from a caller, they would let anyone who
// can reach the socket make a plugin read or delete any file. The walk is
// by reflection, so request types and fields added later are covered.
func refuseHostFields(req proto.Message) error {
	if field := hostField(req.ProtoReflect(), nil); field != "" {
		return statusError(codes.InvalidArgument, false,
			"%s is set: it is host-internal (the host passes large payloads as files itself); send the bytes inline in the plain field", field)
	}
	if msg := oversized(req.ProtoReflect(), nil); msg != "" {
		return statusError(codes.InvalidArgument, false, "%s", msg)
	}
	return nil
}

// fieldPath is where a walk is in a request, rendered ("sectors[2].path")
// only for the field it reports: building every field's name on the way
// was most of what the two walks cost per task.
type fieldPath struct {
	parent *fieldPath
	name   protoreflect.Name
	index  int // the list entry, or -1
}

func (p *fieldPath) String() string {
	if p == nil {
		return ""
	}
	s := p.parent.String()
	if p.name != "" {
		if s != "" {
			s += "."
		}
		s += string(p.name)
	}
	if p.index >= 0 {
		s += fmt.Sprintf("[%d]", p.index)
	}
	return s
}

// oversized returns why m holds a string or list beyond the bounds, or "".
func oversized(m protoreflect.Message, at *fieldPath) string {
	fds := m.Descriptor().Fields()
	for i := 0; i < fds.Len(); i++ {
		fd := fds.Get(i)
		if !m.Has(fd) {
			continue
		}
		v := m.Get(fd)
		// Made only when needed: it escapes through the recursion.
		here := func() *fieldPath { return &fieldPath{parent: at, name: fd.Name(), index: -1} }
		var found string
		switch {
		case fd.IsList() && v.List().Len() > listBound(fd):
			why := "a sector holds at most 256 deals"
			if listBound(fd) == maxPoStSectors {
				why = "ten partitions of 2349 sectors"
			}
			found = fmt.Sprintf("%s has %d entries, at most %d are taken (%s)", here().String(), v.List().Len(), listBound(fd), why)
		case fd.IsList() && fd.Message() != nil:
			list := here()
			for i := 0; i < v.List().Len() && found == ""; i++ {
				found = oversized(v.List().Get(i).Message(), &fieldPath{parent: list, index: i})
			}
		case !fd.IsList() && fd.Kind() == protoreflect.StringKind && len(v.String()) > maxString:
			found = fmt.Sprintf("%s is %d bytes long, at most %d are taken (a path or CID; PATH_MAX is 4096)", here().String(), len(v.String()), maxString)
		case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
			found = oversized(v.Message(), here())
		}
		if found != "" {
			return found
		}
	}
	return ""
}

// hostField returns the path of the first host-only field set in m, or "".
func hostField(m protoreflect.Message, at *fieldPath) string {
	fds := m.Descriptor().Fields()
	for i := 0; i < fds.Len(); i++ {
		fd := fds.Get(i)
		if !m.Has(fd) {
			continue
		}
		here := func() *fieldPath { return &fieldPath{parent: at, name: fd.Name(), index: -1} }
		var found string
		switch {
		case fd.Kind() == protoreflect.StringKind && strings.HasSuffix(string(fd.Name()), "blob_dir"):
			found = here().String()
		case fd.Message() != nil && fd.Message().FullName() == blobName:
			found = here().String()
		case fd.Message() != nil && fd.IsList():
			l, list := m.Get(fd).List(), here()
			for i := 0; i < l.Len() && found == ""; i++ {
				found = hostField(l.Get(i).Message(), &fieldPath{parent: list, index: i})
			}
		case fd.Message() != nil && !fd.IsMap():
			found = hostField(m.Get(fd).Message(), here())
		}
		if found != "" {
			return found
		}
	}
	return ""
}
