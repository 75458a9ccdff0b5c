package damocles

// PC2RunningMarker is damocles-worker's marker of a started pc2 (since
// damocles#837): made in the sector's cache dir before its first pc2 and
// removed after success. A worker that finds it at the start of a pc2
// copies the staged file over the sealed one first, so a pc2 retried by
// such a worker is safe even though pc2 rewrites the sealed file in place.
const PC2RunningMarker = ".pc2_running"
