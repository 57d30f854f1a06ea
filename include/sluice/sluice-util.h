/* sluice-util.h — small helpers shared by the engine and plugins.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined (SLUICE_INSIDE) && !defined (SLUICE_COMPILATION)
# error "Only <sluice.h> can be included directly."
#endif

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/**
 * sluice_parse_duration:
 * @text: a duration with a unit: `250ms`, `30s`, `1.5s`, `5m`, `2h`, `1d`
 * @out_ms: (out): the duration in milliseconds
 *
 * Returns: %TRUE if @text is a valid duration
 */
gboolean    sluice_parse_duration            (const char  *text,
                                              gint64      *out_ms);

/**
 * sluice_config_get_duration:
 * @config: a stage or target configuration
 * @member: the member name
 * @default_ms: the value when @member is absent
 * @out_ms: (out): the duration in milliseconds
 * @error: return location for a %SLUICE_ERROR_INVALID_CONFIG error
 *
 * Reads a duration member (a string with a unit, see sluice_parse_duration()).
 *
 * Returns: %TRUE on success
 */
gboolean    sluice_config_get_duration       (JsonObject  *config,
                                              const char  *member,
                                              gint64       default_ms,
                                              gint64      *out_ms,
                                              GError     **error);

/**
 * sluice_json_get_string:
 * @object: (nullable): an object
 * @member: a member name
 *
 * Returns: (transfer none) (nullable): the member if it is a string, else %NULL
 */
const char *sluice_json_get_string           (JsonObject  *object,
                                              const char  *member);

/**
 * sluice_json_get_int:
 * @object: (nullable): an object
 * @member: a member name
 * @default_value: the value when @member is absent or not a number
 *
 * Returns: the member as an integer
 */
gint64      sluice_json_get_int              (JsonObject  *object,
                                              const char  *member,
                                              gint64       default_value);

/**
 * SLUICE_MAX_COUNT:
 *
 * The largest count (of tokens, say) believed from a provider: a billion.
 * No request holds more; a larger number is a broken or hostile answer,
 * and summing a few of them must not overflow.
 */
#define SLUICE_MAX_COUNT G_GINT64_CONSTANT (1000000000)

/**
 * sluice_json_get_count:
 * @object: (nullable): an object
 * @member: a member name
 * @default_value: the value when @member is absent, not an integer, negative
 *   or larger than %SLUICE_MAX_COUNT
 *
 * Returns: the member as a count from 0 to %SLUICE_MAX_COUNT
 */
gint64      sluice_json_get_count            (JsonObject  *object,
                                              const char  *member,
                                              gint64       default_value);

/**
 * sluice_json_lookup_path:
 * @root: (nullable): a JSON value
 * @dotted: a dotted path such as `customer.address.city`; `.` is @root
 *
 * Returns: (transfer none) (nullable): the node at @dotted, or %NULL
 */
JsonNode   *sluice_json_lookup_path          (JsonNode    *root,
                                              const char  *dotted);

/**
 * SLUICE_JSON_MAX_DEPTH:
 *
 * How deeply JSON read by sluice_json_from_string() may nest.
 */
#define SLUICE_JSON_MAX_DEPTH 512

/**
 * sluice_json_to_string:
 * @node: a JSON value
 *
 * Returns: (transfer full): compact JSON text of @node; doubles are
 *   written with the fewest digits that read back as the same value
 */
char       *sluice_json_to_string            (JsonNode    *node);

/**
 * sluice_json_to_string_full:
 * @node: a JSON value
 * @pretty: indent with two spaces per level
 *
 * Returns: (transfer full): JSON text of @node
 */
char       *sluice_json_to_string_full       (JsonNode    *node,
                                              gboolean     pretty);

/**
 * sluice_json_append_double:
 * @out: where to append
 * @value: a number
 *
 * Appends the shortest text that reads back as @value (null when it is
 * not finite).
 */
void        sluice_json_append_double        (GString     *out,
                                              gdouble      value);

/**
 * sluice_json_from_string:
 * @text: JSON text
 * @length: length of @text, or -1 if NUL-terminated
 * @error: return location for a #GError
 *
 * Parses JSON, refusing (rather than crashing on) text that nests deeper
 * than %SLUICE_JSON_MAX_DEPTH, and refusing rather than changing what
 * json-glib would change: text after the first value, an integer outside
 * 64 bits, a number beyond a double's range (1e400, and 1e-400, which
 * would become 0), a number json-glib reads but JSON does not have
 * (02134, read as octal; 0x10; .5; 1.; +1), and a NUL character in a
 * string (json-glib's strings end there). Those refusals are
 * %JSON_PARSER_ERROR_INVALID_DATA errors naming the literal and its byte
 * offset; see sluice_json_check_text().
 *
 * Returns: (transfer full) (nullable): the parsed value
 */
JsonNode   *sluice_json_from_string          (const char  *text,
                                              gssize       length,
                                              GError     **error);

/**
 * sluice_json_check_text:
 * @text: JSON text
 * @length: length of @text, or -1 if NUL-terminated
 * @error: return location for a #GError
 *
 * Runs the checks sluice_json_from_string() makes before parsing, without
 * parsing: to say why text that did not parse was refused.
 *
 * Returns: %TRUE if @text passes them; otherwise @error says what was
 *   refused and where (%JSON_PARSER_ERROR_INVALID_DATA for a number or a
 *   NUL, %JSON_PARSER_ERROR_PARSE for the depth or trailing text)
 */
gboolean    sluice_json_check_text           (const char  *text,
                                              gssize       length,
                                              GError     **error);

/**
 * sluice_monotonic_ms:
 *
 * Returns: g_get_monotonic_time() in milliseconds
 */
gint64      sluice_monotonic_ms              (void);

/**
 * sluice_write_file:
 * @path: the file to write
 * @contents: what to write
 * @length: its length, or -1 for a NUL-terminated string
 * @error: return location for a #GError
 *
 * Writes a report or metrics file. A regular file (or none yet) is
 * replaced whole, written beside it and renamed, so a reader never sees
 * half of it; anything else already at @path (a symlink, a device, a
 * FIFO) is written through, never replaced by a file of its own.
 *
 * Returns: %TRUE when everything was written
 */
gboolean    sluice_write_file                (const char   *path,
                                              const char   *contents,
                                              gssize        length,
                                              GError      **error);

/**
 * sluice_append_file:
 * @path: the file to append to (created when missing)
 * @contents: what to append
 * @length: its length, or -1 for a NUL-terminated string
 * @error: return location for a #GError whose message is the system's
 *   reason alone ("No space left on device"): the caller names the file
 *
 * Returns: %TRUE when everything was written and the file closed cleanly
 */
gboolean    sluice_append_file               (const char   *path,
                                              const char   *contents,
                                              gssize        length,
                                              GError      **error);

/**
 * sluice_now_iso8601:
 *
 * Returns: (transfer full): the current UTC time, ISO 8601 with milliseconds
 */
char       *sluice_now_iso8601               (void);

/**
 * sluice_get_state_dir:
 *
 * Where sluice keeps its state (the ledger): `$SLUICE_STATE_DIR`, or
 * `$XDG_DATA_HOME/sluice`. The folder is created if needed.
 *
 * Returns: (transfer none): the state folder
 */
const char *sluice_get_state_dir             (void);

/**
 * sluice_get_default_ledger_path:
 *
 * The ledger the `sqlite` sink writes and spending budgets read when no
 * path is given: `ledger.db` in sluice_get_state_dir().
 *
 * Returns: (transfer full): the path
 */
char       *sluice_get_default_ledger_path   (void);

/**
 * sluice_text_scrub_secret:
 * @text: text a provider sent back
 * @secret: (nullable): the credential that must not appear
 *
 * Provider text can quote the key back (OpenAI's 401 shows a masked form
 * of it): every word that holds @secret, its first half (up to 8
 * characters), or a run of asterisks becomes "[redacted]". A @secret
 * shorter than 8 characters is no issued credential (a placeholder such
 * as "x"): text is not scrubbed for it, which would mangle it.
 *
 * Returns: (transfer full): the scrubbed text
 */
char       *sluice_text_scrub_secret         (const char  *text,
                                              const char  *secret);

/**
 * sluice_text_excerpt:
 * @data: (array length=len) (nullable): bytes, possibly not UTF-8
 * @len: the length of @data, or -1 when NUL-terminated
 * @max_chars: the most characters kept ("…" marks a cut)
 * @secret: (nullable): a credential to scrub, see sluice_text_scrub_secret()
 *
 * One line for an error message: valid UTF-8, control characters and runs
 * of white space folded into single spaces, cut, scrubbed.
 *
 * Returns: (transfer full): the excerpt
 */
char       *sluice_text_excerpt              (const char  *data,
                                              gssize       len,
                                              guint        max_chars,
                                              const char  *secret);

/**
 * sluice_estimate_tokens:
 * @text: (nullable): UTF-8 text
 *
 * A rough token count for when a provider reports no usage: one token per
 * four bytes of text, at least one per word. Counts from it are always
 * marked as estimated.
 *
 * Returns: the estimate (0 for %NULL or empty text)
 */
gint64      sluice_estimate_tokens           (const char  *text);

/**
 * SluiceCancelWatch: (skip)
 *
 * Runs a function from a main context when a cancellable is cancelled.
 * A signal handler rather than a #GCancellableSource per request: every
 * source is visited on every main-loop iteration, and a batch has
 * hundreds of requests in flight. The members are private.
 */
typedef struct
{
  GCancellable *cancellable;
  gulong        handler;
  GSource      *idle;
  GMainContext *context;
  GSourceFunc   func;
  gpointer      data;
} SluiceCancelWatch;

/**
 * sluice_cancel_watch_start: (skip)
 * @watch: a zeroed #SluiceCancelWatch
 * @cancellable: (nullable): what to watch; %NULL watches nothing
 * @context: (nullable): where @func runs (%NULL: the global default)
 * @func: called once, from @context, after @cancellable is cancelled
 *   (at once if it already is); its return value is ignored
 * @data: for @func
 */
void        sluice_cancel_watch_start        (SluiceCancelWatch *watch,
                                              GCancellable      *cancellable,
                                              GMainContext      *context,
                                              GSourceFunc        func,
                                              gpointer           data);
/**
 * sluice_cancel_watch_stop: (skip)
 * @watch: a #SluiceCancelWatch
 *
 * Stops watching; @func will not run after this. Safe to call twice.
 */
void        sluice_cancel_watch_stop         (SluiceCancelWatch *watch);

/**
 * sluice_config_invalid:
 * @error: return location for a #GError
 * @format: printf() format of the message
 * @...: its arguments
 *
 * Sets a %SLUICE_ERROR_INVALID_CONFIG error, for configure functions
 * that return as soon as one member is wrong.
 *
 * Returns: %FALSE
 */
gboolean    sluice_config_invalid            (GError     **error,
                                              const char  *format,
                                              ...) G_GNUC_PRINTF (2, 3);

/**
 * sluice_estimate_message_tokens:
 * @messages: (nullable): chat messages, each with a string `content`
 *
 * sluice_estimate_tokens() of each message's content, plus a few tokens of
 * framing per message as chat formats add.
 *
 * Returns: the estimate
 */
gint64      sluice_estimate_message_tokens   (JsonArray   *messages);

G_END_DECLS
