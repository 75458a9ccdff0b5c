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
	if field := hostField(req.ProtoReflect(), ""); field != "" {
		return statusError(codes.InvalidArgument, false,
			"%s is set: it is host-internal (the host passes large payloads as files itself); send the bytes inline in the plain field", field)
	}
	if msg := oversized(req.ProtoReflect(), ""); msg != "" {
		return statusError(codes.InvalidArgument, false, "%s", msg)
	}
	return nil
}

// oversized returns why m holds a string or list beyond the bounds, or "".
func oversized(m protoreflect.Message, prefix string) string {
	var found string
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		name := prefix + string(fd.Name())
		switch {
		case fd.IsList() && v.List().Len() > listBound(fd):
			why := "a sector holds at most 256 deals"
			if listBound(fd) == maxPoStSectors {
				why = "ten partitions of 2349 sectors"
			}
			found = fmt.Sprintf("%s has %d entries, at most %d are taken (%s)", name, v.List().Len(), listBound(fd), why)
		case fd.IsList() && fd.Message() != nil:
			for i := 0; i < v.List().Len() && found == ""; i++ {
				found = oversized(v.List().Get(i).Message(), fmt.Sprintf("%s[%d].", name, i))
			}
		case !fd.IsList() && fd.Kind() == protoreflect.StringKind && len(v.String()) > maxString:
			found = fmt.Sprintf("%s is %d bytes long, at most %d are taken (a path or CID; PATH_MAX is 4096)", name, len(v.String()), maxString)
		case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
			found = oversized(v.Message(), name+".")
		}
		return found == ""
	})
	return found
}

// hostField returns the path of the first host-only field set in m, or "".
func hostField(m protoreflect.Message, prefix string) string {
	var found string
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		name := prefix + string(fd.Name())
		switch {
		case fd.Kind() == protoreflect.StringKind && strings.HasSuffix(string(fd.Name()), "blob_dir"):
			found = name
		case fd.Message() != nil && fd.Message().FullName() == blobName:
			found = name
		case fd.Message() != nil && fd.IsList():
			for i := 0; i < v.List().Len() && found == ""; i++ {
				found = hostField(v.List().Get(i).Message(), fmt.Sprintf("%s[%d].", name, i))
			}
		case fd.Message() != nil && !fd.IsMap():
			found = hostField(v.Message(), name+".")
		}
		return found == ""
	})
	return found
}
