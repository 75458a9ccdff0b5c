// Package damocles is the wire format of damocles-worker's external
// processors, and its translation to and from sealhost's stage messages
// (sdk/proto/sealv1). Both directions use it: `host processor` is a
// damocles consumer (a worker starts it and sends it tasks), the
// plugins/damocles bridge a producer (it starts a damocles processor and
// sends it tasks). Keeping both in one package keeps the two directions
// byte-compatible with each other, and fuzzing one decoder covers both.
//
// The protocol, as damocles-worker (vc-processors) speaks it: the child
// writes "STAGE processor ready" as its first stdout line; then each
// direction carries one compact JSON object per line — a request
// {"id":u64,"task":T}, a response {"id":u64,"err_msg":string|null,
// "output":O|null}. Responses may come in any order, matched by id.
//
// Encodings are serde's for the filecoin-proofs-api types, because that is
// what the Rust side reads: a proof type is its variant name
// ("StackedDrg32GiBV1_1"), a 32-byte value an array of 32 integers, a piece
// its unpadded size with the raw commitment. sealhost carries padded sizes
// and piece CIDs, so pieces are converted (go-fil-commcid) both ways and a
// size that is not a valid unpadded piece size is an error, not rounded.
// PC1 and C1 outputs are not decoded at all: filecoin-ffi's opaque outputs
// are serde_json of the very structs damocles carries, so the JSON value in
// the line is the bytes handed to filecoin-ffi, unchanged (compacted only,
// which filecoin-ffi's own output already is).
//
// Decoding choices. Unknown object keys are ignored, as serde does by
// default: a newer damocles may add a field and its own consumers carry on,
// so must we. Every key these types know is required and must not be null
// (serde has no defaults on them), so a renamed field is reported as
// missing rather than silently zero; a key given twice is an error (serde:
// "duplicate field"), never last-wins. 32-byte arrays must have exactly 32
// integers 0..255. Lines are bounded by MaxLine, strings (paths) and piece
// lists by the task API's own bounds, so a bad peer costs an error, not
// memory.
//
// Where damocles carries a value sealhost's messages have no field for, or
// the other way round, the codec says so in an error rather than making
// one up: snap_encode's comm_r_last_new is read from the file
// rust-fil-proofs keeps it in (CommRLastNew), add_pieces refuses pieces at
// URLs and payloads shorter than their piece (update.go, pieces.go). The
// producer's side says what damocles' tasks leave unsaid: an add_pieces
// task lists every piece of the staged file, the zero pieces sealhost
// aligns and fills with as pledge pieces (Layout), since a damocles
// processor writes pieces back to back; its answer is checked piece by
// piece against that list.
package damocles
