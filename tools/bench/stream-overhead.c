/* stream-overhead.c — the time to first token sluice adds to a streamed
 * answer, measured against a direct libsoup read of the same mock stream.
 *
 *   stream-overhead-client BASE_URL [ROUNDS] [WARMUP]
 *
 * Each round sends one request each way, in alternating order so that
 * machine noise and the mock's timer grid hit both alike:
 *
 *   direct  its own SoupSession; builds the same body the openai provider
 *           sends, reads the event stream, parses each data: line, and
 *           stops the TTFT clock at the first non-empty
 *           choices[0].delta.content; the full clock at the end of the body.
 *   sluice  the openai provider made by the engine, through
 *           sluice_provider_send_async(); full time is send to callback.
 *
 * Both clocks start before the request is built, as a caller's would. The
 * provider's own ttft_us starts only after it built the message, so the
 * sluice TTFT is (queued - call) + ttft_us, "queued" being the stream
 * session's request-queued signal, emitted a few microseconds after
 * ttft_us starts (so sluice is, if anything, charged too much). The
 * "to queued" rows show that first part for both sides.
 *
 * The answers of each round must be the same text, and each side must
 * use one kept-alive connection throughout: the last line says so.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "stream-overhead"

#include <sluice.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define READ_CHUNK (16 * 1024)
#define API_KEY "k"
#define MODEL "gpt-4o-mini"

typedef struct
{
  gint64 ttft_us;
  gint64 total_us;
  gint64 before_send_us;   /* from the start to the session's request-queued */
} Sample;

typedef struct
{
  char           *base_url;
  char           *url;         /* of chat completions */
  SoupSession    *session;     /* the direct client's */
  SluiceEngine   *engine;
  SluiceProvider *provider;
  JsonArray      *messages;
  gint64          queued_us;   /* when either session last queued a message */
  SoupMessage    *queued;      /* that message */
  /* Connections each side opened: 1 each when both keep theirs alive. */
  guint64         direct_connection;
  guint64         sluice_connection;
  guint           direct_connections;
  guint           sluice_connections;
} Bench;

static void
count_connection (SoupMessage *message,
                  guint64     *last,
                  guint       *count)
{
  guint64 id = soup_message_get_connection_id (message);

  if (id != *last)
    {
      *last = id;
      (*count)++;
    }
}

static void
on_request_queued (SoupSession *session,
                   SoupMessage *message,
                   gpointer     user_data)
{
  Bench *bench = user_data;

  if (bench->queued_us == 0)
    {
      bench->queued_us = g_get_monotonic_time ();
      g_set_object (&bench->queued, message);
    }
}

/* ---- direct ------------------------------------------------------------------ */

typedef struct
{
  Bench        *bench;
  SoupMessage  *message;
  GInputStream *stream;
  GString      *line;          /* the line being read */
  GString      *text;
  gint64        start_us;
  gint64        first_us;
  gint64        end_us;
  gboolean      done_seen;
  gboolean      finished;
  GError       *error;
  guint8        chunk[READ_CHUNK];
} Direct;

static char *
build_body (Bench *bench)
{
  g_autoptr(JsonNode) root = json_node_new (JSON_NODE_OBJECT);
  JsonObject *body = json_object_new ();
  JsonObject *stream_options = json_object_new ();

  json_node_take_object (root, body);
  json_object_set_string_member (body, "model", MODEL);
  json_object_set_array_member (body, "messages", json_array_ref (bench->messages));
  json_object_set_boolean_member (body, "stream", TRUE);
  json_object_set_boolean_member (stream_options, "include_usage", TRUE);
  json_object_set_object_member (body, "stream_options", stream_options);
  return json_to_string (root, FALSE);
}

static void
direct_fail (Direct *direct,
             GError *error)
{
  direct->error = error;
  direct->finished = TRUE;
}

static const char *
delta_content (JsonNode *root)
{
  JsonObject *chunk, *choice, *delta;
  JsonArray *choices;

  if (!JSON_NODE_HOLDS_OBJECT (root))
    return NULL;
  chunk = json_node_get_object (root);
  if (!json_object_has_member (chunk, "choices") ||
      !JSON_NODE_HOLDS_ARRAY (json_object_get_member (chunk, "choices")))
    return NULL;
  choices = json_object_get_array_member (chunk, "choices");
  if (json_array_get_length (choices) == 0 ||
      !JSON_NODE_HOLDS_OBJECT (json_array_get_element (choices, 0)))
    return NULL;
  choice = json_array_get_object_element (choices, 0);
  if (!json_object_has_member (choice, "delta") ||
      !JSON_NODE_HOLDS_OBJECT (json_object_get_member (choice, "delta")))
    return NULL;
  delta = json_object_get_object_member (choice, "delta");
  if (!json_object_has_member (delta, "content"))
    return NULL;
  return json_object_get_string_member_with_default (delta, "content", NULL);
}

/* One line of the event stream, without its line end. */
static void
direct_line (Direct     *direct,
             const char *line)
{
  g_autoptr(JsonNode) root = NULL;
  const char *content;

  if (!g_str_has_prefix (line, "data:"))
    return;
  line += 5;
  if (*line == ' ')
    line++;
  if (g_str_equal (line, "[DONE]"))
    {
      direct->done_seen = TRUE;
      return;
    }
  /* Every event is parsed, as a client that wants the usage must. */
  root = json_from_string (line, NULL);
  if (root == NULL)
    return;
  content = delta_content (root);
  if (content != NULL && *content != '\0')
    {
      if (direct->first_us == 0)
        direct->first_us = g_get_monotonic_time ();
      g_string_append (direct->text, content);
    }
}

static void direct_read_next (Direct *direct);

static void
on_direct_chunk (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Direct *direct = user_data;
  GError *error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);

  if (n < 0)
    {
      direct_fail (direct, error);
      return;
    }
  if (n == 0)
    {
      /* Read to its end and closed: the connection goes back to the pool. */
      g_input_stream_close (direct->stream, NULL, NULL);
      direct->end_us = g_get_monotonic_time ();
      direct->finished = TRUE;
      return;
    }
  for (gssize i = 0; i < n; i++)
    {
      char c = (char) direct->chunk[i];

      if (c == '\n')
        {
          if (direct->line->len > 0 && direct->line->str[direct->line->len - 1] == '\r')
            g_string_truncate (direct->line, direct->line->len - 1);
          direct_line (direct, direct->line->str);
          g_string_truncate (direct->line, 0);
        }
      else
        g_string_append_c (direct->line, c);
    }
  direct_read_next (direct);
}

static void
direct_read_next (Direct *direct)
{
  g_input_stream_read_async (direct->stream, direct->chunk, sizeof direct->chunk, G_PRIORITY_DEFAULT,
                             NULL, on_direct_chunk, direct);
}

static void
on_direct_sent (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  Direct *direct = user_data;
  GError *error = NULL;

  direct->stream = soup_session_send_finish (SOUP_SESSION (source), result, &error);
  if (direct->stream == NULL)
    {
      direct_fail (direct, error);
      return;
    }
  count_connection (direct->message, &direct->bench->direct_connection, &direct->bench->direct_connections);
  if (soup_message_get_status (direct->message) != SOUP_STATUS_OK)
    {
      direct_fail (direct, g_error_new (G_IO_ERROR, G_IO_ERROR_FAILED, "direct: HTTP %u",
                                        soup_message_get_status (direct->message)));
      return;
    }
  direct_read_next (direct);
}

static gboolean
run_direct (Bench   *bench,
            Sample  *sample,
            char   **text,
            GError **error)
{
  Direct direct = { .bench = bench };
  g_autofree char *body = NULL;
  g_autoptr(GBytes) bytes = NULL;
  SoupMessageHeaders *headers;
  gsize len;

  direct.line = g_string_new (NULL);
  direct.text = g_string_new (NULL);

  bench->queued_us = 0;
  direct.start_us = g_get_monotonic_time ();
  body = build_body (bench);
  len = strlen (body);
  bytes = g_bytes_new_take (g_steal_pointer (&body), len);
  direct.message = soup_message_new (SOUP_METHOD_POST, bench->url);
  /* As sluice does: libsoup keeps a POST's connection only when it is idempotent. */
  soup_message_add_flags (direct.message, SOUP_MESSAGE_NO_REDIRECT | SOUP_MESSAGE_IDEMPOTENT);
  headers = soup_message_get_request_headers (direct.message);
  soup_message_headers_replace (headers, "Accept", "text/event-stream, application/json");
  soup_message_headers_replace (headers, "Authorization", "Bearer " API_KEY);
  soup_message_set_request_body_from_bytes (direct.message, "application/json", bytes);
  soup_session_send_async (bench->session, direct.message, G_PRIORITY_DEFAULT, NULL, on_direct_sent, &direct);

  while (!direct.finished)
    g_main_context_iteration (NULL, TRUE);
  g_clear_object (&bench->queued);

  g_clear_object (&direct.stream);
  g_clear_object (&direct.message);
  g_string_free (direct.line, TRUE);
  if (direct.error == NULL && (!direct.done_seen || direct.first_us == 0))
    direct.error = g_error_new (G_IO_ERROR, G_IO_ERROR_FAILED, "direct: a stream without %s",
                                direct.first_us == 0 ? "content" : "[DONE]");
  if (direct.error != NULL)
    {
      g_string_free (direct.text, TRUE);
      g_propagate_error (error, direct.error);
      return FALSE;
    }
  sample->before_send_us = bench->queued_us - direct.start_us;
  sample->ttft_us = direct.first_us - direct.start_us;
  sample->total_us = direct.end_us - direct.start_us;
  *text = g_string_free (direct.text, FALSE);
  return TRUE;
}

/* ---- sluice --------------------------------------------------------------------- */

typedef struct
{
  SluiceResponse *response;
  GError         *error;
  gint64          end_us;
  gboolean        finished;
} Via;

static void
on_sluice_sent (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  Via *via = user_data;

  via->end_us = g_get_monotonic_time ();
  via->response = sluice_provider_send_finish (SLUICE_PROVIDER (source), result, &via->error);
  via->finished = TRUE;
}

static gboolean
run_sluice (Bench   *bench,
            Sample  *sample,
            char   **text,
            GError **error)
{
  g_autoptr(SluiceContext) context = sluice_context_new (NULL);
  Via via = { NULL };
  const GError *failure;
  gint64 start_us;

  sluice_context_set_messages (context, bench->messages);

  bench->queued_us = 0;
  start_us = g_get_monotonic_time ();
  sluice_provider_send_async (bench->provider, context, NULL, on_sluice_sent, &via);
  while (!via.finished)
    g_main_context_iteration (NULL, TRUE);
  if (bench->queued != NULL)
    count_connection (bench->queued, &bench->sluice_connection, &bench->sluice_connections);
  g_clear_object (&bench->queued);

  if (via.error != NULL)
    {
      g_propagate_error (error, via.error);
      return FALSE;
    }
  failure = sluice_response_get_error (via.response);
  if (failure != NULL || sluice_response_get_ttft_us (via.response) < 0 || bench->queued_us == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "sluice: %s",
                   failure != NULL ? failure->message : "no first token, or the request was never queued");
      g_object_unref (via.response);
      return FALSE;
    }
  sample->before_send_us = bench->queued_us - start_us;
  sample->ttft_us = sample->before_send_us + sluice_response_get_ttft_us (via.response);
  sample->total_us = via.end_us - start_us;
  *text = g_strdup (sluice_response_get_text (via.response));
  g_object_unref (via.response);
  return TRUE;
}

/* ---- setup and report ------------------------------------------------------------- */

static JsonArray *
new_messages (void)
{
  JsonArray *messages = json_array_new ();
  static const char * const roles[] = { "system", "user" };
  static const char * const contents[] = {
    "You classify the sentiment of product reviews. Answer with JSON.",
    "The battery lasts two days and the screen is bright. I love it.",
  };

  for (guint i = 0; i < G_N_ELEMENTS (roles); i++)
    {
      JsonObject *message = json_object_new ();

      json_object_set_string_member (message, "role", roles[i]);
      json_object_set_string_member (message, "content", contents[i]);
      json_array_add_object_element (messages, message);
    }
  return messages;
}

static SluiceProvider *
new_provider (SluiceEngine  *engine,
              const char    *base_url,
              GError       **error)
{
  g_autoptr(GObject) provider = NULL;
  g_autoptr(JsonObject) target = json_object_new ();
  g_autofree char *v1 = g_strconcat (base_url, "/v1", NULL);

  provider = sluice_engine_create (engine, "provider", "openai", error);
  if (provider == NULL)
    return NULL;
  json_object_set_string_member (target, "provider", "openai");
  json_object_set_string_member (target, "model", MODEL);
  json_object_set_string_member (target, "base_url", v1);
  json_object_set_string_member (target, "api_key", API_KEY);
  json_object_set_boolean_member (target, "stream", TRUE);
  if (!sluice_provider_configure (SLUICE_PROVIDER (provider), target, error))
    return NULL;
  return SLUICE_PROVIDER (g_steal_pointer (&provider));
}

static int
compare_gint64 (gconstpointer a,
                gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;

  return (x > y) - (x < y);
}

typedef struct
{
  double median_ms;
  double p95_ms;
} Summary;

static Summary
summarize (const Sample *samples,
           guint         n,
           gsize         offset)
{
  g_autofree gint64 *values = g_new (gint64, n);
  Summary summary;

  for (guint i = 0; i < n; i++)
    values[i] = G_STRUCT_MEMBER (gint64, &samples[i], offset);
  qsort (values, n, sizeof *values, compare_gint64);
  summary.median_ms = (n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2.0) / 1000.0;
  /* Nearest rank. */
  summary.p95_ms = values[MAX ((guint) ((95 * (guint64) n + 99) / 100), 1) - 1] / 1000.0;
  return summary;
}

static void
print_row (const char *name,
           double      direct_ms,
           double      sluice_ms)
{
  printf ("%-20s %9.3f ms %9.3f ms %+9.3f ms %8.3f\n", name, direct_ms, sluice_ms,
          sluice_ms - direct_ms, direct_ms > 0 ? sluice_ms / direct_ms : 0.0);
}

static void
on_stats (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

static void
print_mock_stats (Bench *bench)
{
  g_autofree char *url = g_strconcat (bench->base_url, "/mock/stats", NULL);
  g_autoptr(SoupMessage) message = soup_message_new (SOUP_METHOD_GET, url);
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GError) error = NULL;
  GAsyncResult *result = NULL;
  JsonObject *stats;

  /* Asynchronous, as the requests were: a synchronous one would not reuse their connection. */
  soup_session_send_and_read_async (bench->session, message, G_PRIORITY_DEFAULT, NULL, on_stats, &result);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  bytes = soup_session_send_and_read_finish (bench->session, result, &error);
  g_object_unref (result);
  if (bytes != NULL)
    root = json_from_string (g_bytes_get_data (bytes, NULL), &error);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      printf ("mock stats: unavailable (%s)\n", error != NULL ? error->message : "not an object");
      return;
    }
  stats = json_node_get_object (root);
  /* 1 each: both kept their connection alive. More: a client reconnected. */
  printf ("connections: direct %u, sluice %u; the mock accepted %" G_GINT64_FORMAT
          " for %" G_GINT64_FORMAT " requests\n",
          bench->direct_connections, bench->sluice_connections,
          json_object_get_int_member_with_default (stats, "connections", -1),
          json_object_get_int_member_with_default (stats, "requests", -1));
}

int
main (int    argc,
      char **argv)
{
  g_autoptr(GError) error = NULL;
  Bench bench = { NULL };
  guint rounds, warmup;
  g_autofree Sample *direct = NULL;
  g_autofree Sample *via = NULL;
  Summary d, s;

  if (argc < 2 || argc > 4)
    {
      fprintf (stderr, "usage: %s BASE_URL [ROUNDS] [WARMUP]\n", argv[0]);
      return 2;
    }
  rounds = argc > 2 ? (guint) g_ascii_strtoull (argv[2], NULL, 10) : 200;
  warmup = argc > 3 ? (guint) g_ascii_strtoull (argv[3], NULL, 10) : 10;
  if (rounds == 0)
    {
      fprintf (stderr, "%s: ROUNDS must be at least 1\n", argv[0]);
      return 2;
    }

  bench.base_url = g_strdup (argv[1]);
  bench.url = g_strconcat (argv[1], "/v1/chat/completions", NULL);
  bench.messages = new_messages ();
  /* The same limits and timeouts as sluice's own session. */
  bench.session = soup_session_new_with_options ("max-conns", 16, "max-conns-per-host", 16,
                                                 "timeout", 300, "idle-timeout", 60,
                                                 "user-agent", "stream-overhead", NULL);
  /* The engine lives as long as the provider: its sessions carry the requests. */
  bench.engine = sluice_engine_new ();
  bench.provider = new_provider (bench.engine, argv[1], &error);
  if (bench.provider == NULL)
    {
      fprintf (stderr, "stream-overhead: cannot make the openai provider: %s\n", error->message);
      return 1;
    }
  g_signal_connect (bench.session, "request-queued", G_CALLBACK (on_request_queued), &bench);
  g_signal_connect (sluice_engine_get_http_session (bench.engine, TRUE), "request-queued",
                    G_CALLBACK (on_request_queued), &bench);

  direct = g_new0 (Sample, rounds);
  via = g_new0 (Sample, rounds);
  for (guint i = 0; i < warmup + rounds; i++)
    {
      Sample a = { 0 }, b = { 0 };
      g_autofree char *text_a = NULL;
      g_autofree char *text_b = NULL;
      /* Alternate which goes first: neither always follows the other. */
      gboolean ok = i % 2 == 0
        ? run_direct (&bench, &a, &text_a, &error) && run_sluice (&bench, &b, &text_b, &error)
        : run_sluice (&bench, &b, &text_b, &error) && run_direct (&bench, &a, &text_a, &error);

      if (!ok)
        {
          fprintf (stderr, "stream-overhead: round %u: %s\n", i, error->message);
          return 1;
        }
      if (g_strcmp0 (text_a, text_b) != 0)
        {
          fprintf (stderr, "stream-overhead: round %u: the answers differ:\n  direct: %s\n  sluice: %s\n",
                   i, text_a, text_b);
          return 1;
        }
      if (i >= warmup)
        {
          direct[i - warmup] = a;
          via[i - warmup] = b;
        }
    }

  printf ("%u rounds after %u warm-up, direct and sluice alternating\n\n", rounds, warmup);
  printf ("%-20s %12s %12s %12s %8s\n", "", "direct", "sluice", "added", "ratio");
  d = summarize (direct, rounds, G_STRUCT_OFFSET (Sample, ttft_us));
  s = summarize (via, rounds, G_STRUCT_OFFSET (Sample, ttft_us));
  print_row ("TTFT median", d.median_ms, s.median_ms);
  print_row ("TTFT p95", d.p95_ms, s.p95_ms);
  d = summarize (direct, rounds, G_STRUCT_OFFSET (Sample, before_send_us));
  s = summarize (via, rounds, G_STRUCT_OFFSET (Sample, before_send_us));
  print_row ("  to queued, median", d.median_ms, s.median_ms);
  print_row ("  to queued, p95", d.p95_ms, s.p95_ms);
  d = summarize (direct, rounds, G_STRUCT_OFFSET (Sample, total_us));
  s = summarize (via, rounds, G_STRUCT_OFFSET (Sample, total_us));
  print_row ("full stream median", d.median_ms, s.median_ms);
  print_row ("full stream p95", d.p95_ms, s.p95_ms);
  printf ("\n");
  print_mock_stats (&bench);

  g_clear_object (&bench.queued);
  g_object_unref (bench.provider);
  g_object_unref (bench.engine);
  g_object_unref (bench.session);
  json_array_unref (bench.messages);
  g_free (bench.url);
  g_free (bench.base_url);
  return 0;
}
