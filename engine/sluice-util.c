/* sluice-util.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "sluice-util"

#include "sluice.h"
#include <glib/gstdio.h>
#include <stdio.h>
#include <sys/stat.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

gboolean
sluice_parse_duration (const char *text,
                       gint64     *out_ms)
{
  char *end = NULL;
  double value;
  double scale;

  g_return_val_if_fail (out_ms != NULL, FALSE);

  if (text == NULL || !g_ascii_isdigit (text[0]))
    return FALSE;

  errno = 0;
  value = g_ascii_strtod (text, &end);
  if (errno != 0 || end == text || !isfinite (value) || value < 0)
    return FALSE;

  if (g_str_equal (end, "ms"))
    scale = 1;
  else if (g_str_equal (end, "s"))
    scale = 1000;
  else if (g_str_equal (end, "m"))
    scale = 60 * 1000;
  else if (g_str_equal (end, "h"))
    scale = 3600 * 1000;
  else if (g_str_equal (end, "d"))
    scale = 86400.0 * 1000;
  else
    return FALSE;

  value *= scale;
  if (value > (double) G_MAXINT64 / 2)
    return FALSE;

  *out_ms = (gint64) llround (value);
  return TRUE;
}

gboolean
sluice_config_get_duration (JsonObject  *config,
                            const char  *member,
                            gint64       default_ms,
                            gint64      *out_ms,
                            GError     **error)
{
  JsonNode *node;

  node = config != NULL ? json_object_get_member (config, member) : NULL;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    {
      *out_ms = default_ms;
      return TRUE;
    }

  if (json_node_get_value_type (node) != G_TYPE_STRING ||
      !sluice_parse_duration (json_node_get_string (node), out_ms))
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                   "'%s' must be a duration with a unit, such as 250ms, 30s or 5m",
                   member);
      return FALSE;
    }

  return TRUE;
}

const char *
sluice_json_get_string (JsonObject *object,
                        const char *member)
{
  JsonNode *node;

  if (object == NULL)
    return NULL;
  node = json_object_get_member (object, member);
  if (node == NULL || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

gint64
sluice_json_get_int (JsonObject *object,
                     const char *member,
                     gint64      default_value)
{
  JsonNode *node;
  GType type;

  if (object == NULL)
    return default_value;
  node = json_object_get_member (object, member);
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return default_value;
  type = json_node_get_value_type (node);
  if (type == G_TYPE_INT64)
    return json_node_get_int (node);
  if (type == G_TYPE_DOUBLE)
    {
      gdouble value = json_node_get_double (node);

      /* Out of range (or NaN) cannot be cast: it is no integer we can use. */
      if (!(value >= -9.2e18 && value <= 9.2e18))
        return default_value;
      return (gint64) value;
    }
  return default_value;
}

gint64
sluice_json_get_count (JsonObject *object,
                       const char *member,
                       gint64      default_value)
{
  gint64 value = sluice_json_get_int (object, member, -1);

  return value >= 0 && value <= SLUICE_MAX_COUNT ? value : default_value;
}

JsonNode *
sluice_json_lookup_path (JsonNode   *root,
                         const char *dotted)
{
  JsonNode *node = root;
  const char *p = dotted;

  if (root == NULL || dotted == NULL)
    return NULL;
  if (g_str_equal (dotted, "."))
    return root;

  while (*p != '\0')
    {
      const char *dot = strchr (p, '.');
      gsize len = dot != NULL ? (gsize) (dot - p) : strlen (p);
      char name[256];

      if (len == 0 || len >= sizeof name)
        return NULL;
      memcpy (name, p, len);
      name[len] = '\0';

      if (JSON_NODE_HOLDS_OBJECT (node))
        node = json_object_get_member (json_node_get_object (node), name);
      else if (JSON_NODE_HOLDS_ARRAY (node) && g_ascii_isdigit (name[0]))
        {
          JsonArray *array = json_node_get_array (node);
          guint64 index = g_ascii_strtoull (name, NULL, 10);

          node = index < json_array_get_length (array)
            ? json_array_get_element (array, (guint) index) : NULL;
        }
      else
        node = NULL;

      if (node == NULL)
        return NULL;
      p += len;
      if (*p == '.')
        p++;
    }

  return node;
}

/* ---- JSON text ------------------------------------------------------------
 *
 * Our own writer rather than JsonGenerator: json-glib 1.6 prints doubles
 * with 17 significant digits, so a model's 0.73 came out as
 * 0.72999999999999998. Here a double gets the shortest text that reads
 * back as the same value. */

static void
append_escaped (GString    *out,
                const char *text)
{
  g_string_append_c (out, '"');
  for (const guchar *p = (const guchar *) text; *p != '\0'; p++)
    {
      switch (*p)
        {
        case '"':  g_string_append (out, "\\\""); break;
        case '\\': g_string_append (out, "\\\\"); break;
        case '\n': g_string_append (out, "\\n"); break;
        case '\r': g_string_append (out, "\\r"); break;
        case '\t': g_string_append (out, "\\t"); break;
        case '\b': g_string_append (out, "\\b"); break;
        case '\f': g_string_append (out, "\\f"); break;
        default:
          if (*p < 0x20)
            g_string_append_printf (out, "\\u%04x", *p);
          else
            g_string_append_c (out, (char) *p);
        }
    }
  g_string_append_c (out, '"');
}

void
sluice_json_append_double (GString *out,
                           gdouble  value)
{
  char buffer[G_ASCII_DTOSTR_BUF_SIZE];

  if (!isfinite (value))
    {
      g_string_append (out, "null");   /* JSON has no NaN or infinity */
      return;
    }
  int precision;

  /* the fewest significant digits that read back as the same double */
  for (precision = 1; precision <= 17; precision++)
    {
      char format[8];

      g_snprintf (format, sizeof format, "%%.%dg", precision);
      g_ascii_formatd (buffer, sizeof buffer, format, value);
      if (g_ascii_strtod (buffer, NULL) == value)
        break;
    }
  /* %g writes 120 as 1.2e+02 when two digits suffice: between 1e-4 and
   * 1e17 a person (and a prompt) reads plain decimals better, and they
   * say the same: 120, 2500, 0.001 */
  if (strchr (buffer, 'e') != NULL && fabs (value) >= 1e-4 && fabs (value) < 1e17)
    {
      int exponent = (int) floor (log10 (fabs (value)));
      int decimals = MAX (0, MIN (precision, 17) - 1 - exponent);
      char format[8];
      char plain[G_ASCII_DTOSTR_BUF_SIZE];

      g_snprintf (format, sizeof format, "%%.%df", decimals);
      g_ascii_formatd (plain, sizeof plain, format, value);
      if (g_ascii_strtod (plain, NULL) == value)
        g_strlcpy (buffer, plain, sizeof buffer);
    }
  g_string_append (out, buffer);
}

static void
append_indent (GString *out,
               gboolean pretty,
               guint    depth)
{
  if (!pretty)
    return;
  g_string_append_c (out, '\n');
  for (guint i = 0; i < depth; i++)
    g_string_append (out, "  ");
}

static void
append_node (GString  *out,
             JsonNode *node,
             gboolean  pretty,
             guint     depth)
{
  switch (node != NULL ? JSON_NODE_TYPE (node) : JSON_NODE_NULL)
    {
    case JSON_NODE_OBJECT:
      {
        JsonObjectIter iter;
        const char *name;
        JsonNode *member;
        gboolean first = TRUE;

        g_string_append_c (out, '{');
        json_object_iter_init_ordered (&iter, json_node_get_object (node));
        while (json_object_iter_next_ordered (&iter, &name, &member))
          {
            if (!first)
              g_string_append_c (out, ',');
            first = FALSE;
            append_indent (out, pretty, depth + 1);
            append_escaped (out, name);
            g_string_append (out, pretty ? ": " : ":");
            append_node (out, member, pretty, depth + 1);
          }
        if (!first)
          append_indent (out, pretty, depth);
        g_string_append_c (out, '}');
      }
      break;

    case JSON_NODE_ARRAY:
      {
        JsonArray *array = json_node_get_array (node);
        guint n = json_array_get_length (array);

        g_string_append_c (out, '[');
        for (guint i = 0; i < n; i++)
          {
            if (i > 0)
              g_string_append_c (out, ',');
            append_indent (out, pretty, depth + 1);
            append_node (out, json_array_get_element (array, i), pretty, depth + 1);
          }
        if (n > 0)
          append_indent (out, pretty, depth);
        g_string_append_c (out, ']');
      }
      break;

    case JSON_NODE_VALUE:
      switch (json_node_get_value_type (node))
        {
        case G_TYPE_INT64:
          g_string_append_printf (out, "%" G_GINT64_FORMAT, json_node_get_int (node));
          break;
        case G_TYPE_DOUBLE:
          sluice_json_append_double (out, json_node_get_double (node));
          break;
        case G_TYPE_BOOLEAN:
          g_string_append (out, json_node_get_boolean (node) ? "true" : "false");
          break;
        case G_TYPE_STRING:
          append_escaped (out, json_node_get_string (node));
          break;
        default:
          g_string_append (out, "null");
          break;
        }
      break;

    case JSON_NODE_NULL:
    default:
      g_string_append (out, "null");
      break;
    }
}

char *
sluice_json_to_string (JsonNode *node)
{
  return sluice_json_to_string_full (node, FALSE);
}

char *
sluice_json_to_string_full (JsonNode *node,
                            gboolean  pretty)
{
  GString *out = g_string_sized_new (256);

  append_node (out, node, pretty, 0);
  return g_string_free (out, FALSE);
}

/* The literal as quoted in an error: a number may be megabytes of digits. */
static char *
quote_literal (const char *text,
               gsize       length)
{
  if (length <= 40)
    return g_strndup (text, length);
  return g_strdup_printf ("%.*s… (%" G_GSIZE_FORMAT " characters)", 32, text, length);
}

/* Checks one number token (the maximal run of characters that could
 * belong to it) against JSON's grammar,
 *   -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
 * and against what json-glib can hold without changing it: json-glib
 * reads 02134 as octal, 0x10 as hex, takes .5, 1. and "- 1", wraps
 * integers beyond 64 bits around (2^63 becomes -2^63) and turns 1e400
 * into infinity (written out as null). */
static gboolean
check_number (const char  *text,
              gsize        length,
              gsize        offset,
              GError     **error)
{
  const char *p = text, *end = text + length;
  const char *digits, *why = NULL;
  gboolean integer = TRUE, nonzero = FALSE;
  g_autofree char *quoted = NULL;

  if (p < end && *p == '-')
    p++;
  digits = p;
  if (p < end && *p == '0')
    p++;
  else
    while (p < end && g_ascii_isdigit (*p))
      p++;
  if (p == digits)
    why = *text == '+' ? "a number may not start with +"
        : *text == '.' || (*text == '-' && length > 1 && text[1] == '.') ? "a number needs a digit before the ."
        : "a number needs a digit after the -";
  else if (p < end && g_ascii_isdigit (*p))
    why = "a number may not start with 0 (json-glib would read it as octal)";
  else if (p < end && (*p == 'x' || *p == 'X'))
    why = "hexadecimal is not JSON";
  for (const char *q = digits; q < p; q++)
    nonzero |= *q != '0';
  if (why == NULL && p < end && *p == '.')
    {
      const char *frac = ++p;

      integer = FALSE;
      while (p < end && g_ascii_isdigit (*p))
        nonzero |= *p++ != '0';
      if (p == frac)
        why = "a number needs a digit after the .";
    }
  if (why == NULL && p < end && (*p == 'e' || *p == 'E'))
    {
      const char *exp;

      integer = FALSE;
      if (++p < end && (*p == '+' || *p == '-'))
        p++;
      exp = p;
      while (p < end && g_ascii_isdigit (*p))
        p++;
      if (p == exp)
        why = "a number needs digits after the exponent's e";
    }
  if (why == NULL && p != end)
    why = "this is not a JSON number";
  if (why != NULL)
    {
      quoted = quote_literal (text, length);
      g_set_error (error, JSON_PARSER_ERROR, JSON_PARSER_ERROR_INVALID_DATA,
                   "%s (at byte %" G_GSIZE_FORMAT ") is not a JSON number: %s", quoted, offset, why);
      return FALSE;
    }

  if (integer)
    {
      /* the digits, without sign and (the grammar says) without leading zeros */
      gsize n = (gsize) (end - digits);
      const char *limit = *text == '-' ? "9223372036854775808" : "9223372036854775807";

      if (n < 19 || (n == 19 && memcmp (digits, limit, 19) <= 0))
        return TRUE;
      quoted = quote_literal (text, length);
      g_set_error (error, JSON_PARSER_ERROR, JSON_PARSER_ERROR_INVALID_DATA,
                   "the integer %s (at byte %" G_GSIZE_FORMAT ") does not fit in 64 bits "
                   "(-9223372036854775808 to 9223372036854775807); send it as a string",
                   quoted, offset);
      return FALSE;
    }
  else
    {
      char buf[64];
      g_autofree char *copy = length < sizeof buf ? NULL : g_strndup (text, length);
      gdouble value;

      if (copy == NULL)
        {
          memcpy (buf, text, length);
          buf[length] = '\0';
        }
      value = g_ascii_strtod (copy != NULL ? copy : buf, NULL);

      if (isfinite (value) && (value != 0 || !nonzero))
        return TRUE;
      quoted = quote_literal (text, length);
      g_set_error (error, JSON_PARSER_ERROR, JSON_PARSER_ERROR_INVALID_DATA,
                   "the number %s (at byte %" G_GSIZE_FORMAT ") is beyond what a double holds "
                   "(it would become %s); send it as a string",
                   quoted, offset, value == 0 ? "0" : "infinity");
      return FALSE;
    }
}

/* Before json-glib sees the text: json-glib's parser recurses once per
 * nesting level, so hostile input could overflow the stack; it silently
 * ignores whatever follows the first value ({"a":1}{"b":2}), which would
 * drop a job; it changes numbers (check_number()); and its strings end at
 * the first NUL, so "x\u0000y" would become "x". This scan measures the
 * depth, finds the end of the first value, checks every number and
 * refuses NUL, without recursion. It knows what json-glib's scanner
 * accepts beyond JSON: single-quoted strings and comments. */
static gboolean
check_json_text (const char  *text,
                 gsize        length,
                 GError     **error)
{
  guint depth = 0;
  gboolean seen_value = FALSE;

  for (gsize i = 0; i < length; i++)
    {
      char c = text[i];

      if ((c == '/' && i + 1 < length && text[i + 1] == '*'))
        {
          const char *end = g_strstr_len (text + i + 2, length - i - 2, "*/");
          i = end != NULL ? (gsize) (end - text) + 1 : length;
          continue;
        }
      if ((c == '/' && i + 1 < length && text[i + 1] == '/') || c == '#')
        {
          while (i < length && text[i] != '\n')
            i++;
          continue;
        }
      if (g_ascii_isspace (c))
        continue;

      if (c == '\0')
        {
          g_set_error (error, JSON_PARSER_ERROR, JSON_PARSER_ERROR_INVALID_DATA,
                       "the JSON text holds a NUL byte (at byte %" G_GSIZE_FORMAT ")", i);
          return FALSE;
        }
      if (depth == 0 && seen_value)
        {
          g_set_error (error, JSON_PARSER_ERROR, JSON_PARSER_ERROR_PARSE,
                       "unexpected text after the JSON value (at byte %" G_GSIZE_FORMAT ")", i);
          return FALSE;
        }

      if (c == '"' || c == '\'')
        {
          gsize start = i;

          for (i++; i < length && text[i] != c; i++)
            {
              if (text[i] == '\0' ||
                  (text[i] == '\\' && i + 5 < length && text[i + 1] == 'u' &&
                   memcmp (text + i + 2, "0000", 4) == 0))
                {
                  g_set_error (error, JSON_PARSER_ERROR, JSON_PARSER_ERROR_INVALID_DATA,
                               "the string at byte %" G_GSIZE_FORMAT " holds a NUL character "
                               "(at byte %" G_GSIZE_FORMAT "), which sluice cannot keep", start, i);
                  return FALSE;
                }
              if (text[i] == '\\')
                i++;
            }
          if (depth == 0)
            seen_value = TRUE;
        }
      else if (c == '{' || c == '[')
        {
          if (++depth > SLUICE_JSON_MAX_DEPTH)
            {
              g_set_error (error, JSON_PARSER_ERROR, JSON_PARSER_ERROR_PARSE,
                           "the JSON nests deeper than %d levels", SLUICE_JSON_MAX_DEPTH);
              return FALSE;
            }
        }
      else if (c == '}' || c == ']')
        {
          if (depth > 0 && --depth == 0)
            seen_value = TRUE;
        }
      else if (c == ',' || c == ':')
        continue;
      else
        {
          /* a number or a word (true, false, null): it runs to the next
           * space, comma, colon, bracket or quote */
          gsize start = i;

          while (i + 1 < length && !g_ascii_isspace (text[i + 1]) &&
                 strchr ("{}[]\"'/#,:", text[i + 1]) == NULL && text[i + 1] != '\0')
            i++;
          if ((g_ascii_isdigit (c) || c == '-' || c == '+' || c == '.') &&
              !check_number (text + start, i + 1 - start, start, error))
            return FALSE;
          if (depth == 0)
            seen_value = TRUE;
        }
    }
  return TRUE;
}

gboolean
sluice_json_check_text (const char  *text,
                        gssize       length,
                        GError     **error)
{
  return check_json_text (text, length < 0 ? strlen (text) : (gsize) length, error);
}

JsonNode *
sluice_json_from_string (const char  *text,
                         gssize       length,
                         GError     **error)
{
  g_autoptr(JsonParser) parser = NULL;

  if (!check_json_text (text, length < 0 ? strlen (text) : (gsize) length, error))
    return NULL;
  parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, text, length, error))
    return NULL;
  if (json_parser_get_root (parser) == NULL)
    {
      g_set_error_literal (error, JSON_PARSER_ERROR, JSON_PARSER_ERROR_PARSE,
                           "empty document");
      return NULL;
    }
  return json_parser_steal_root (parser);
}

gint64
sluice_monotonic_ms (void)
{
  return g_get_monotonic_time () / 1000;
}

/* Writes @size bytes to @path opened with @mode; on failure @error says
 * the system's reason alone, for callers that name the file themselves. */
static gboolean
write_path (const char  *path,
            const char  *mode,
            const char  *contents,
            gsize        size,
            GError     **error)
{
  FILE *file = g_fopen (path, mode);
  gboolean written;
  int saved;

  if (file == NULL)
    {
      saved = errno;
      g_set_error_literal (error, G_FILE_ERROR, g_file_error_from_errno (saved), g_strerror (saved));
      return FALSE;
    }
  written = fwrite (contents, 1, size, file) == size;
  saved = errno;
  /* fclose() releases the stream even when it fails: never twice. */
  if (fclose (file) != 0 && written)
    {
      written = FALSE;
      saved = errno;
    }
  if (!written)
    g_set_error_literal (error, G_FILE_ERROR, g_file_error_from_errno (saved), g_strerror (saved));
  return written;
}

gboolean
sluice_append_file (const char  *path,
                    const char  *contents,
                    gssize       length,
                    GError     **error)
{
  return write_path (path, "a", contents, length < 0 ? strlen (contents) : (gsize) length, error);
}

gboolean
sluice_write_file (const char  *path,
                   const char  *contents,
                   gssize       length,
                   GError     **error)
{
  GStatBuf info;

  if (g_lstat (path, &info) != 0 || S_ISREG (info.st_mode))
    return g_file_set_contents (path, contents, length, error);
  if (!write_path (path, "w", contents, length < 0 ? strlen (contents) : (gsize) length, error))
    {
      g_prefix_error (error, "%s: ", path);
      return FALSE;
    }
  return TRUE;
}

char *
sluice_now_iso8601 (void)
{
  gint64 now = g_get_real_time ();
  g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc (now / G_USEC_PER_SEC);
  g_autofree char *base = g_date_time_format (dt, "%Y-%m-%dT%H:%M:%S");

  return g_strdup_printf ("%s.%03dZ", base, (int) ((now / 1000) % 1000));
}

const char *
sluice_get_state_dir (void)
{
  static char *dir;

  if (g_once_init_enter (&dir))
    {
      const char *env = g_getenv ("SLUICE_STATE_DIR");
      char *path = env != NULL && *env != '\0'
        ? g_strdup (env)
        : g_build_filename (g_get_user_data_dir (), "sluice", NULL);

      if (g_mkdir_with_parents (path, 0700) != 0)
        g_warning ("cannot create state folder %s: %s", path, g_strerror (errno));
      g_once_init_leave (&dir, path);
    }
  return dir;
}

char *
sluice_get_default_ledger_path (void)
{
  return g_build_filename (sluice_get_state_dir (), "ledger.db", NULL);
}

gint64
sluice_estimate_message_tokens (JsonArray *messages)
{
  gint64 tokens = 0;

  for (guint i = 0; messages != NULL && i < json_array_get_length (messages); i++)
    {
      JsonNode *node = json_array_get_element (messages, i);
      JsonObject *message = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;

      tokens += 4 + sluice_estimate_tokens (sluice_json_get_string (message, "content"));
    }
  return tokens;
}

gboolean
sluice_config_invalid (GError     **error,
                       const char  *format,
                       ...)
{
  va_list args;

  va_start (args, format);
  g_propagate_error (error, g_error_new_valist (SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG, format, args));
  va_end (args);
  return FALSE;
}

static gboolean
cancel_watch_fire (gpointer user_data)
{
  SluiceCancelWatch *watch = user_data;

  g_clear_pointer (&watch->idle, g_source_unref);   /* it removes itself */
  watch->func (watch->data);
  return G_SOURCE_REMOVE;
}

/* Runs inside g_cancellable_cancel(), where the handler may not be
 * disconnected: the work is done from the main context instead. */
static void
cancel_watch_on_cancelled (GCancellable *cancellable,
                           gpointer      user_data)
{
  SluiceCancelWatch *watch = user_data;

  if (watch->idle != NULL)
    return;
  watch->idle = g_idle_source_new ();
  g_source_set_callback (watch->idle, cancel_watch_fire, watch, NULL);
  g_source_attach (watch->idle, watch->context);
}

void
sluice_cancel_watch_start (SluiceCancelWatch *watch,
                           GCancellable      *cancellable,
                           GMainContext      *context,
                           GSourceFunc        func,
                           gpointer           data)
{
  g_return_if_fail (watch != NULL && func != NULL);

  watch->context = context;
  watch->func = func;
  watch->data = data;
  if (cancellable == NULL)
    return;
  watch->cancellable = g_object_ref (cancellable);
  watch->handler = g_cancellable_connect (cancellable, G_CALLBACK (cancel_watch_on_cancelled), watch, NULL);
}

void
sluice_cancel_watch_stop (SluiceCancelWatch *watch)
{
  if (watch->handler != 0)
    g_cancellable_disconnect (watch->cancellable, watch->handler);
  watch->handler = 0;
  g_clear_object (&watch->cancellable);
  if (watch->idle != NULL)
    {
      g_source_destroy (watch->idle);
      g_clear_pointer (&watch->idle, g_source_unref);
    }
}
