// Named bounds of the distribution layer. Units last.

/** Bytes handed to a socket before further data frames wait in the connection's own queue (heartbeats skip that queue). */
export const SOCKET_BUFFER_BYTES_MAX = 256 * 1024;
/** Default largest frame sent or accepted. */
export const FRAME_BYTES_MAX_DEFAULT = 64 * 2 ** 20;
/** Default bytes that may wait for a peer that does not read before its connection is closed. */
export const QUEUED_BYTES_MAX_DEFAULT = 64 * 2 ** 20;
/** Default silence after which a connection is closed (Erlang's net_ticktime is 60 s). */
export const NET_TICK_MS_DEFAULT = 15_000;
/** Longest a handshake may take. */
export const HANDSHAKE_MS_MAX = 10_000;
/** Frame bodies larger than this go out in fragments, interleaved with other frames. */
export const UNFRAGMENTED_FRAME_BYTES_MAX = 256 * 1024;
/** Bytes of a message carried by one fragment (Erlang's distribution uses 64 KiB too). */
export const FRAGMENT_BYTES = 64 * 1024;
/** Fragmented messages in flight at once on one connection, each of at most maxFrameBytes. */
export const FRAGMENTED_MESSAGES_MAX = 4;
/** Failure detector restarts allowed within FAILURE_DETECTOR_RESTART_PERIOD_MS before its supervisor gives up. */
export const FAILURE_DETECTOR_RESTARTS_MAX = 10;
export const FAILURE_DETECTOR_RESTART_PERIOD_MS = 10_000;
/** Longest wait between two dials of a suspected node that is not connected (the wait doubles from the poll interval, 1 s by default). */
export const REDIAL_MS_MAX = 60_000;
/** Failure detector defaults (see docs/distribution.md for how they combine). */
export const HEARTBEAT_INTERVAL_MS_DEFAULT = 100;
export const WINDOW_SIZE_DEFAULT = 1_000;
export const POLL_INTERVAL_MS_DEFAULT = 1_000;
export const PHI_THRESHOLD_DEFAULT = 8;
export const MIN_STD_DEVIATION_MS_DEFAULT = 100;
export const ACCEPTABLE_PAUSE_MS_DEFAULT = 500;
/** Largest frame accepted before the peer has proved the cookie (a hello is well under 1 KiB). */
export const HANDSHAKE_FRAME_BYTES_MAX = 4 * 1024;
/** Inbound connections that may be in their handshake at once; more are closed on arrival. */
export const UNAUTHENTICATED_CONNECTIONS_MAX = 64;
/** Deepest nesting of arrays and maps in a frame (a handshake frame is flat). */
export const FRAME_DEPTH_MAX = 512;
export const HANDSHAKE_FRAME_DEPTH_MAX = 1;
/** Largest BigInt (in bytes of msgpackr's BigInt extension) a peer may send. */
export const BIGINT_BYTES_MAX = 4 * 1024;
/** Refused or failed connections logged per interval; the rest are counted and summed up in the next record. */
export const REFUSAL_LOGS_PER_INTERVAL_MAX = 10;
export const REFUSAL_LOG_INTERVAL_MS = 10_000;
/** Longest node name or registered name a peer may send (in a hello or a signal). */
export const WIRE_NAME_LENGTH_MAX = 1_024;
