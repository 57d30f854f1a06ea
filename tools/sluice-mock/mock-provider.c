/* mock-provider.c: what the three wire formats share
 *
 * Reading message text, splitting an answer into stream deltas, and turning
 * a list of events into the pieces of a body, which is where the stream
 * faults (cut, stall, malformed_chunk, malformed) happen: once, for every
 * format, on the events the format built.
 */
#define G_LOG_DOMAIN "sluice-mock"

#include "mock-provider.h"

#include <string.h>

gsize
mock_content_text (JsonNode    *content,
                   const char **text,
                   GString     *collect)
{
  JsonArray *parts;
  gsize total = 0;

  *text = NULL;
  if (content == NULL)
    return 0;
  if (JSON_NODE_HOLDS_VALUE (content))
    {
      if (json_node_get_value_type (content) != G_TYPE_STRING)
        return 0;
      *text = json_node_get_string (content);
      return strlen (*text);
    }
  if (!JSON_NODE_HOLDS_ARRAY (content))
    return 0;

  if (collect != NULL)
    g_string_truncate (collect, 0);
  parts = json_node_get_array (content);
  for (guint i = 0, n = json_array_get_length (parts); i < n; i++)
    {
      JsonNode *part = json_array_get_element (parts, i);
      const char *part_text;

      if (!JSON_NODE_HOLDS_OBJECT (part))
        continue;
      part_text = mock_member_string (json_node_get_object (part), "text");
      if (part_text == NULL)
        continue;
      if (collect != NULL)
        {
          if (collect->len > 0)
            g_string_append_c (collect, '\n');
          g_string_append (collect, part_text);
        }
      total += strlen (part_text);
    }
  if (collect != NULL)
    *text = collect->str;
  return total;
}

#define CORRECTION_PREFIX "Your answer "

void
mock_request_set_user_text (MockRequest *req,
                            const char  *text,
                            gsize        bytes,
                            GString     *collect)
{
  gsize len = text == NULL ? 0 : text == collect->str ? collect->len : bytes;

  if (req->user_len > 0 && len >= strlen (CORRECTION_PREFIX) &&
      memcmp (text, CORRECTION_PREFIX, strlen (CORRECTION_PREFIX)) == 0)
    return;
  if (text != NULL && text == collect->str)
    {
      /* @collect is reused by the next message's parts. */
      g_string_assign (req->user_kept, collect->str);
      text = req->user_kept->str;
    }
  req->user_text = text != NULL ? text : "";
  req->user_len = len;
}

const char *
mock_member_string (JsonObject *obj,
                    const char *name)
{
  JsonNode *node = json_object_get_member (obj, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

gsize
mock_utf8_piece (const char *text,
                 gsize       len,
                 gsize       want)
{
  gsize n;

  if (want >= len)
    return len;
  n = MAX (want, 1);
  /* Continuation bytes are 10xxxxxx: move on to the next character start. */
  while (n < len && ((guchar) text[n] & 0xC0) == 0x80)
    n++;
  return n;
}

MockEvent *
mock_event_add (GArray     *events,
                const char *name)
{
  MockEvent event = { name, g_string_sized_new (256), 0, FALSE, FALSE };

  g_array_append_val (events, event);
  return &g_array_index (events, MockEvent, events->len - 1);
}

void
mock_events_clear (GArray *events)
{
  for (guint i = 0; i < events->len; i++)
    g_string_free (g_array_index (events, MockEvent, i).data, TRUE);
  g_array_set_size (events, 0);
}

static GBytes *
event_bytes (const MockEvent *event,
             const char      *eol,
             gsize            data_len)
{
  GString *out = g_string_sized_new (data_len + 40);

  if (event->name != NULL)
    g_string_append_printf (out, "event: %s%s", event->name, eol);
  g_string_append (out, "data: ");
  g_string_append_len (out, event->data->str, (gssize) data_len);
  g_string_append (out, eol);
  g_string_append (out, eol);
  return g_string_free_to_bytes (out);
}

/* Keeps the first @keep bytes of @pieces. */
static void
truncate_pieces (GPtrArray *pieces,
                 gsize      keep)
{
  gsize seen = 0;

  for (guint i = 0; i < pieces->len; i++)
    {
      GBytes *piece = g_ptr_array_index (pieces, i);
      gsize size = g_bytes_get_size (piece);

      if (seen + size <= keep)
        {
          seen += size;
          continue;
        }
      if (keep > seen)
        {
          g_ptr_array_index (pieces, i) = g_bytes_new_from_bytes (piece, 0, keep - seen);
          g_bytes_unref (piece);
          i++;
        }
      g_ptr_array_set_size (pieces, i);
      return;
    }
}

GPtrArray *
mock_events_to_pieces (GArray             *events,
                       const MockProvider *provider,
                       MockKind            kind,
                       gboolean           *stall)
{
  GPtrArray *pieces = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  guint n = events->len, end = n, broken = G_MAXUINT;
  guint first_delta = G_MAXUINT, middle_delta = G_MAXUINT, first_terminal = n;
  guint n_deltas = 0, seen = 0;

  /* The faults aim at the deltas before the end: a cut or a stall there
   * leaves an answer that is visibly unfinished. */
  for (guint i = 0; i < n; i++)
    {
      const MockEvent *e = &g_array_index (events, MockEvent, i);

      if (e->terminal && first_terminal == n)
        first_terminal = i;
      if (e->is_delta && !e->terminal)
        n_deltas++;
    }
  for (guint i = 0; i < n; i++)
    {
      const MockEvent *e = &g_array_index (events, MockEvent, i);

      if (!e->is_delta || e->terminal)
        continue;
      if (seen == 0)
        first_delta = i;
      if (seen == (n_deltas - 1) / 2)
        middle_delta = i;
      seen++;
    }

  *stall = FALSE;
  switch (kind)
    {
    case MOCK_KIND_CUT:
      end = middle_delta != G_MAXUINT ? middle_delta + 1 : first_terminal;
      break;
    case MOCK_KIND_STALL:
      end = first_delta != G_MAXUINT ? first_delta + 1 : first_terminal;
      *stall = TRUE;
      break;
    case MOCK_KIND_MALFORMED_CHUNK:
      broken = middle_delta != G_MAXUINT ? middle_delta : n / 2;
      break;
    default:
      break;
    }

  for (guint i = 0; i < end; i++)
    {
      const MockEvent *e = &g_array_index (events, MockEvent, i);
      gsize len = e->data->len;

      if (i == broken)
        len = e->break_at > 0 && e->break_at < len ? e->break_at : len / 2;
      g_ptr_array_add (pieces, event_bytes (e, provider->eol, len));
    }

  /* The old malformed fault on a stream: the body stops half way, inside
   * an event. */
  if (kind == MOCK_KIND_MALFORMED)
    {
      gsize total = 0;

      for (guint i = 0; i < pieces->len; i++)
        total += g_bytes_get_size (g_ptr_array_index (pieces, i));
      truncate_pieces (pieces, total / 2);
    }
  return pieces;
}

#define MAX_JSON_DEPTH 512

gboolean
mock_json_parse (JsonParser *parser,
                 const char *data,
                 gsize       len)
{
  guint depth = 0;

  /* Every bracket counts, in strings and comments too (json-glib reads
   * single quotes and comments, which would hide a quote from a string
   * scanner): the depth can only be overestimated, never hidden. */
  for (gsize i = 0; i < len; i++)
    {
      if ((data[i] == '[' || data[i] == '{') && ++depth > MAX_JSON_DEPTH)
        return FALSE;
      if ((data[i] == ']' || data[i] == '}') && depth > 0)
        depth--;
    }
  return len > 0 && json_parser_load_from_data (parser, data, (gssize) len, NULL);
}

gboolean
mock_key_ok (const char *given,
             const char *require_key)
{
  /* Without --require-key the mock is as open as a local server: no key,
   * or any key, will do. */
  if (require_key == NULL)
    return TRUE;
  return given != NULL && g_str_equal (given, require_key);
}

char *
mock_rfc3339_after (gint64 delay_ms)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autoptr(GDateTime) then = g_date_time_add (now, delay_ms * G_TIME_SPAN_MILLISECOND);

  return g_date_time_format (then, "%Y-%m-%dT%H:%M:%SZ");
}
