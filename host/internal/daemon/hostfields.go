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
	return nil
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
