/* mock-provider.h: the wire formats sluice-mock speaks
 *
 * One MockProvider per API (OpenAI chat completions, Anthropic Messages,
 * Gemini generateContent). The request handling, the faults and the timing
 * are shared (sluice-mock.c); a provider only knows its own JSON: how to
 * read a request, write an answer or an event stream, and word an error.
 */
#pragma once

#include "mock-common.h"

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* What an answer needs from a request. Strings point into the request's
 * parse tree or the caller's scratch buffer: valid until the next request.
 * The caller zeroes it, with user_text "", before parsing. */
typedef struct {
  guint64     serial;          /* set by the caller before parsing */
  const char *model;
  const char *user_text;       /* the last user message: what gets classified */
  gsize       user_len;
  GString    *user_kept;       /* set by the caller: holds a collected user_text */
  gint64      prompt_tokens;
  gboolean    stream;
  gboolean    include_usage;   /* OpenAI stream_options.include_usage */
  const char *tool_name;       /* Anthropic: the tool the answer must call */
} MockRequest;

typedef struct {
  guint64     serial;          /* makes the ids */
  const char *content;         /* the assistant text */
  gsize       content_len;
  gboolean    with_usage;      /* FALSE for the no_usage fault */
  gboolean    length_cut;      /* ends at the token limit, in the format's words */
  gint64      prompt_tokens;
  gint64      completion_tokens;
  gint64      total_tokens;
} MockAnswer;

/* The errors every format can word. */
typedef enum {
  MOCK_ERROR_INVALID_REQUEST,  /* 400 */
  MOCK_ERROR_UNAUTHORIZED,     /* 401 */
  MOCK_ERROR_NOT_FOUND,        /* 404 */
  MOCK_ERROR_RATE_LIMIT,       /* 429 */
  MOCK_ERROR_SERVER,           /* 500 */
  MOCK_ERROR_OVERLOADED,       /* 503; Anthropic 529 */
  MOCK_ERROR_STATUS,           /* whatever status a scenario step names */
} MockError;

/* One server-sent event of a streamed answer. */
typedef struct {
  const char *name;            /* the "event:" line, NULL for none */
  GString    *data;            /* the "data:" payload */
  gsize       break_at;        /* where malformed_chunk cuts data; 0 = half way */
  gboolean    is_delta;        /* carries a piece of the answer */
  gboolean    terminal;        /* ends the answer: a cut stream lacks it */
} MockEvent;

typedef struct {
  const char *name;
  const char *stream_type;     /* Content-Type of an event stream */
  const char *eol;             /* SSE line end */
  gboolean    retry_after;     /* a 429 says its delay in Retry-After */

  /* Puts the request id header(s) on every answer. */
  void     (*set_headers)   (SoupMessageHeaders *headers,
                             guint64             serial);
  /* FALSE when the request must be refused: @error and @message (NULL =
   * the format's usual wording) say how. */
  gboolean (*authorize)     (SoupServerMessage  *msg,
                             GHashTable         *query,
                             const char         *require_key,
                             MockError          *error,
                             const char        **message);
  /* FALSE when the body is no usable request: then @error_body holds the
   * 400 body. @collect is scratch space for the user text. */
  gboolean (*parse)         (JsonParser         *parser,
                             const char         *path,
                             const char         *data,
                             gsize               len,
                             MockRequest        *req,
                             GString            *collect,
                             GString            *error_body);
  void     (*append_answer) (GString            *out,
                             const MockRequest  *req,
                             const MockAnswer   *answer);
  /* Appends MockEvents to @events. */
  void     (*append_events) (GArray             *events,
                             const MockRequest  *req,
                             const MockAnswer   *answer);
  guint    (*error_status)  (MockError           error);
  /* @message NULL: the format's usual wording for @error. @retry_ms is
   * the delay a rate limit asks for. */
  void     (*append_error)  (GString            *out,
                             MockError           error,
                             guint               status,
                             const char         *message,
                             guint64             serial,
                             gint64              retry_ms);
  /* Extra headers of a 429 (the delay is already in Retry-After or the
   * body's own field). */
  void     (*set_rate_limit_headers) (SoupMessageHeaders *headers,
                                      gint64              retry_ms);
} MockProvider;

extern const MockProvider mock_openai;
extern const MockProvider mock_anthropic;
extern const MockProvider mock_gemini;

/* Shared helpers (mock-provider.c) */

/* Byte length of a message's text: a string, or an array of parts with a
 * "text" member. When @collect is non-NULL the parts' texts are joined
 * into it; *@text points at the text (NULL when there is none). */
gsize      mock_content_text   (JsonNode    *content,
                                const char **text,
                                GString     *collect);
const char *mock_member_string (JsonObject  *obj,
                                const char  *name);
/* Takes a user message's text (@text and @bytes from mock_content_text())
 * as the one to classify, unless it is sluice's request for a correction
 * ("Your answer ..."): that one asks about the user message before it. */
void       mock_request_set_user_text (MockRequest *req,
                                       const char  *text,
                                       gsize        bytes,
                                       GString     *collect);
/* Length of the next piece of @text (@len bytes left) of about @want
 * bytes, never splitting a UTF-8 character. */
gsize      mock_utf8_piece     (const char  *text,
                                gsize        len,
                                gsize        want);
MockEvent *mock_event_add      (GArray      *events,
                                const char  *name);
void       mock_events_clear   (GArray      *events);
/* The body of an event stream for @kind: all of @events, or what the
 * stream fault @kind leaves of them. Sets *@stall for the stall fault. */
GPtrArray *mock_events_to_pieces (GArray             *events,
                                  const MockProvider *provider,
                                  MockKind            kind,
                                  gboolean           *stall);
/* The API key of a request: the header, or for Gemini also ?key=. */
/* Parses a request body as json-glib does, refusing nesting deeper than
 * 512 first (json-glib recurses once per level and would overflow the
 * stack on a hostile body). */
gboolean   mock_json_parse     (JsonParser  *parser,
                                const char  *data,
                                gsize        len);
gboolean   mock_key_ok         (const char  *given,
                                const char  *require_key);
/* "2024-05-01T12:00:01Z", @delay_ms from now. */
char      *mock_rfc3339_after  (gint64       delay_ms);

G_END_DECLS
