/* sluice-sse.c — incremental text/event-stream parsing.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "sluice-sse"

#include "sluice.h"

#include <string.h>

#define MAX_STRAY_BYTES (64 * 1024)

struct _SluiceSseParser
{
  SluiceSseEventFunc func;
  gpointer           user_data;
  gsize              max_event_bytes;

  GString           *line;        /* the line being read */
  GString           *event;       /* the pending event's type */
  GString           *data;        /* its data lines, each followed by "\n" */
  GString           *stray;       /* lines that are not fields */
  gboolean           has_data;
  gboolean           after_cr;    /* the last byte fed ended a line with \r */
  gboolean           first_line;
  gboolean           stopped;
  guint64            n_events;
};

SluiceSseParser *
sluice_sse_parser_new (gsize              max_event_bytes,
                       SluiceSseEventFunc func,
                       gpointer           user_data)
{
  SluiceSseParser *self = g_new0 (SluiceSseParser, 1);

  g_return_val_if_fail (func != NULL, NULL);

  self->func = func;
  self->user_data = user_data;
  self->max_event_bytes = MAX (max_event_bytes, 16);
  self->line = g_string_new (NULL);
  self->event = g_string_new (NULL);
  self->data = g_string_new (NULL);
  self->first_line = TRUE;
  return self;
}

void
sluice_sse_parser_free (SluiceSseParser *self)
{
  if (self == NULL)
    return;
  g_string_free (self->line, TRUE);
  g_string_free (self->event, TRUE);
  g_string_free (self->data, TRUE);
  if (self->stray != NULL)
    g_string_free (self->stray, TRUE);
  g_free (self);
}

static gboolean
too_large (SluiceSseParser  *self,
           GError          **error)
{
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
               "an event of the stream is larger than %" G_GSIZE_FORMAT " bytes",
               self->max_event_bytes);
  self->stopped = TRUE;
  return FALSE;
}

static gboolean
dispatch (SluiceSseParser *self)
{
  gboolean go_on = TRUE;

  if (self->has_data)
    {
      /* The last data line's "\n" is not part of the data. */
      g_string_truncate (self->data, self->data->len - 1);
      self->n_events++;
      go_on = self->func (self->event->len > 0 ? self->event->str : "message",
                          self->data->str, self->data->len, self->user_data);
    }
  g_string_truncate (self->event, 0);
  g_string_truncate (self->data, 0);
  self->has_data = FALSE;
  if (!go_on)
    self->stopped = TRUE;
  return go_on;
}

static void
keep_stray (SluiceSseParser *self,
            const char      *line,
            gsize            len)
{
  if (self->stray == NULL)
    self->stray = g_string_new (NULL);
  if (self->stray->len + len + 1 > MAX_STRAY_BYTES)
    return;
  g_string_append_len (self->stray, line, (gssize) len);
  g_string_append_c (self->stray, '\n');
}

/* One whole line, without its line end. */
static gboolean
process_line (SluiceSseParser  *self,
              GError          **error)
{
  const char *line = self->line->str;
  gsize len = self->line->len;
  const char *colon;
  gsize name_len;
  const char *value;
  gsize value_len;

  if (self->first_line)
    {
      self->first_line = FALSE;
      if (len >= 3 && memcmp (line, "\xEF\xBB\xBF", 3) == 0)
        {
          line += 3;
          len -= 3;
        }
    }

  if (len == 0)
    return dispatch (self);
  if (line[0] == ':')
    return TRUE;

  colon = memchr (line, ':', len);
  name_len = colon != NULL ? (gsize) (colon - line) : len;
  value = colon != NULL ? colon + 1 : line + len;
  value_len = (gsize) (line + len - value);
  if (value_len > 0 && value[0] == ' ')
    {
      value++;
      value_len--;
    }

#define FIELD_IS(name) (name_len == strlen (name) && memcmp (line, name, name_len) == 0)
  if (FIELD_IS ("data"))
    {
      if (self->data->len + value_len + 1 > self->max_event_bytes)
        return too_large (self, error);
      g_string_append_len (self->data, value, (gssize) value_len);
      g_string_append_c (self->data, '\n');
      self->has_data = TRUE;
    }
  else if (FIELD_IS ("event"))
    {
      g_string_truncate (self->event, 0);
      g_string_append_len (self->event, value, (gssize) value_len);
    }
  else if (!FIELD_IS ("id") && !FIELD_IS ("retry"))
    keep_stray (self, line, len);
#undef FIELD_IS

  return TRUE;
}

gboolean
sluice_sse_parser_feed (SluiceSseParser  *self,
                        const char       *data,
                        gsize             len,
                        GError          **error)
{
  const char *p = data;
  const char *end = data + len;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (data != NULL || len == 0, FALSE);

  if (self->stopped)
    return FALSE;

  while (p < end)
    {
      const char *brk;
      gsize run;

      /* The \n of a \r\n that was split between two reads. */
      if (self->after_cr)
        {
          self->after_cr = FALSE;
          if (*p == '\n')
            {
              p++;
              continue;
            }
        }

      brk = p;
      while (brk < end && *brk != '\n' && *brk != '\r')
        brk++;
      run = (gsize) (brk - p);
      if (self->line->len + run > self->max_event_bytes)
        return too_large (self, error);
      g_string_append_len (self->line, p, (gssize) run);
      p = brk;
      if (p == end)
        break;

      if (*p == '\r')
        {
          if (p + 1 < end)
            p += p[1] == '\n' ? 2 : 1;
          else
            {
              self->after_cr = TRUE;
              p++;
            }
        }
      else
        p++;

      if (!process_line (self, error))
        return FALSE;
      g_string_truncate (self->line, 0);
    }
  return TRUE;
}

gboolean
sluice_sse_parser_finish (SluiceSseParser  *self,
                          GError          **error)
{
  g_return_val_if_fail (self != NULL, FALSE);

  if (self->stopped)
    return FALSE;
  if (self->line->len > 0)
    {
      if (!process_line (self, error))
        return FALSE;
      g_string_truncate (self->line, 0);
    }
  return dispatch (self);
}

guint64
sluice_sse_parser_get_n_events (SluiceSseParser *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->n_events;
}

const char *
sluice_sse_parser_get_stray_text (SluiceSseParser *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->stray != NULL && self->stray->len > 0 ? self->stray->str : NULL;
}
