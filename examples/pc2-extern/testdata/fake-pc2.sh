#!/bin/sh
# A stand-in for an external PC2 program (SupraSeal's pc2, lotus-bench
# simple precommit2) following lotus' --external-pc2 convention. It proves
# nothing: it writes p_aux and comm_r derived from its inputs with
# sha256sum, and stamps the sealed file.
#
# Knobs for tests: FAKE_PC2_SLEEP=N sleeps N seconds first (in a child
# process, as a real program's workers would be); FAKE_PC2_EXIT=N exits N
# without writing anything; FAKE_PC2_ENV_DUMP=FILE writes its environment
# there.
set -eu

for v in SECTOR_NUM SECTOR_MINER PROOF_TYPE SECTOR_SIZE CACHE SEALED PC1OUT; do
	eval "val=\${EXTSEAL_PC2_$v:-}"
	if [ -z "$val" ]; then
		echo "fake-pc2: EXTSEAL_PC2_$v is not set" >&2
		exit 2
	fi
done
if [ -n "${FAKE_PC2_ENV_DUMP:-}" ]; then
	env > "$FAKE_PC2_ENV_DUMP"
fi
if [ -n "${FAKE_PC2_SLEEP:-}" ]; then
	sleep "$FAKE_PC2_SLEEP"
fi
if [ -n "${FAKE_PC2_EXIT:-}" ]; then
	echo "fake-pc2: exiting $FAKE_PC2_EXIT as told" >&2
	exit "$FAKE_PC2_EXIT"
fi
# The PC1 output must be base64 of JSON.
printf '%s' "$EXTSEAL_PC2_PC1OUT" | base64 -d | grep -q '^{' || {
	echo "fake-pc2: EXTSEAL_PC2_PC1OUT is not base64 of a JSON object" >&2
	exit 2
}

# digest TAG: 31 bytes of sha256 over the inputs, then a zero byte, as
# hex: a little-endian value below 2^248, so a valid BLS12-381 scalar.
digest() {
	printf '%s/%s/%s/%s/%s' "$1" "$EXTSEAL_PC2_SECTOR_MINER" "$EXTSEAL_PC2_SECTOR_NUM" \
		"$EXTSEAL_PC2_PROOF_TYPE" "$EXTSEAL_PC2_PC1OUT" | sha256sum | cut -c1-62 | sed 's/$/00/'
}
# hex2bin HEX writes the bytes HEX spells (printf's octal escapes are the
# only portable way to write arbitrary bytes from sh).
hex2bin() {
	printf "$(printf '%s' "$1" | awk '{ h = "0123456789abcdef"
		for (i = 1; i < length($0); i += 2)
			printf "\\%03o", (index(h, substr($0, i, 1)) - 1) * 16 + index(h, substr($0, i + 1, 1)) - 1 }')"
}

hex2bin "$(digest comm_c)$(digest comm_r_last)" > "$EXTSEAL_PC2_CACHE/p_aux"
hex2bin "$(digest comm_r)" > "$EXTSEAL_PC2_CACHE/comm_r"
echo "fake-pc2: sector $EXTSEAL_PC2_SECTOR_NUM sealed (FAKE)" >> "$EXTSEAL_PC2_SEALED"
echo "fake-pc2: done for sector $EXTSEAL_PC2_SECTOR_NUM of f0$EXTSEAL_PC2_SECTOR_MINER"
