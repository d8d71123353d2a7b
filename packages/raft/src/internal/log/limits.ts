// Named bounds for log storage. Every queue or buffer that grows has one here.

/** Largest payload one entry may carry (encoded). Bigger ones are refused, not split. */
export const ENTRY_PAYLOAD_BYTES_MAX = 64 << 20;

/** Default ceiling on one WAL batch (one write call + one sync). */
export const WAL_BATCH_BYTES_MAX = 4 << 20;
export const WAL_BATCH_ENTRIES_MAX = 8_192; // Ra's default batch size

/** Entries per WAL request when a server sends from its memory table (resend, release after walBusy). */
export const WAL_SEND_ENTRIES_MAX = 4_096;

/** Above this many pending bytes `appendBatch` reports back-pressure (returns false). */
export const WAL_PENDING_BYTES_MAX = 64 << 20;

/** Batch buffers the WAL keeps for reuse (each is up to a batch's size). */
export const WAL_SPARE_BUFFERS_MAX = 2;
/** `written` notices (in entries) the WAL sends between turns given to its in-flight I/O. */
export const WAL_NOTIFY_SLICE_ENTRIES_MAX = 512;
/** Frames of earlier files a damaged WAL scan checksums, only to word its report. */
export const WAL_EARLIER_FRAME_PROBES_MAX = 8;

/** Default size at which the WAL rolls over to a new file. */
export const WAL_FILE_BYTES_MAX = 256 << 20;
/** Floor on a configured WAL file size, so tests can roll over often but not absurdly. */
export const WAL_FILE_BYTES_MIN = 4 << 10;
/**
 * Flushed WAL files kept as spares for the WAL to write its next files over: a sync
 * that does not grow its file commits no file-system metadata and takes about half as long.
 */
export const WAL_SPARE_FILES_MAX = 2;

/** A writer id is a server's uid; it is written once per WAL file. */
export const WRITER_ID_BYTES_MAX = 1_024;
/** Short references to writer ids within one WAL file. */
export const WAL_WRITERS_PER_FILE_MAX = 0xffff_fffe;

/** Segment files close at whichever of these comes first. */
export const SEGMENT_ENTRIES_MAX = 4_096;
export const SEGMENT_BYTES_MAX = 64 << 20;

/**
 * One slice of an asynchronous segment read (ServerLog.readEntries): the thread that
 * runs the WAL decodes and checks at most this much between two turns of its event loop.
 */
export const SEGMENT_READ_ENTRIES_MAX = 1_024;
export const SEGMENT_READ_BYTES_MAX = 1 << 20;
/** Entries ServerLog.prefetch keeps decoded for the synchronous LogReader reads that follow. */
export const READ_CACHE_ENTRIES_MAX = 4_096;

/** WAL files the segment writer actor remembers as handed over (a WAL restart hands them over again). */
export const SEGMENT_WRITER_SEEN_FILES_MAX = 4_096;

/** Servers whose snapshots and segments recovery reads at once. */
export const RECOVERY_SERVERS_CONCURRENCY_MAX = 16;

/** How many server flushes the segment writer runs at once on the dirty runner. */
export const SEGMENT_WRITER_CONCURRENCY_MAX = 8;

/** Snapshot chunks for installation on followers. */
export const SNAPSHOT_CHUNK_BYTES_DEFAULT = 1 << 20;
export const SNAPSHOT_CHUNK_BYTES_MAX = 16 << 20;
export const SNAPSHOT_BYTES_MAX = 2 ** 31;
/** Checkpoints kept per server; older ones are deleted. */
export const CHECKPOINTS_KEPT_MAX = 3;
/** Replaced snapshots a server with snapshotBackup keeps in its backup folder; older ones are deleted. */
export const SNAPSHOT_BACKUPS_KEPT_MAX = 3;

/** The meta file is rewritten compactly once its append log passes this size. */
export const META_FILE_BYTES_MAX = 1 << 20;
export const META_RECORD_BYTES_MAX = 64 << 10;

/** Largest index or term we store: both are written as 64-bit but must stay exact in a JS number. */
export const INDEX_MAX = Number.MAX_SAFE_INTEGER;
