/* sluice-jsonl-sink.c — every record as one line of JSON.
 *
 * Lines are buffered and appended on flush (or once 64 KiB wait), so a
 * request never waits on the file. A write that fails keeps its lines
 * for the next flush; what still cannot be written when the sink goes is
 * reported with its count, never dropped in silence.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-jsonl-sink.h"

#include <errno.h>
#include <stdio.h>

#define WRITE_AT_BYTES (64 * 1024)

struct _SluiceJsonlSink
{
  GObject  parent_instance;

  char    *path;       /* NULL: standard output */
  GMutex   mutex;
  GString *pending;    /* whole lines not yet written, guarded by mutex */
  guint    n_pending;  /* lines in pending */
  gboolean failing;    /* a write failed and was reported */
};

static void sluice_jsonl_sink_iface_init (SluiceCostSinkInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (SluiceJsonlSink, sluice_jsonl_sink, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (SLUICE_TYPE_COST_SINK, sluice_jsonl_sink_iface_init))

/* Appends what is pending; on failure keeps it. Called with the mutex held. */
static gboolean
write_pending (SluiceJsonlSink  *self,
               GError          **error)
{
  g_autoptr(GError) local = NULL;
  gboolean ok;

  if (self->pending->len == 0)
    return TRUE;
  if (self->path != NULL)
    ok = sluice_append_file (self->path, self->pending->str, self->pending->len, &local);
  else
    {
      ok = fwrite (self->pending->str, 1, self->pending->len, stdout) == self->pending->len &&
           fflush (stdout) == 0;
      if (!ok)
        local = g_error_new_literal (G_FILE_ERROR, G_FILE_ERROR_IO, g_strerror (errno != 0 ? errno : EIO));
    }
  if (!ok)
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_FAILED, "%s: %u records not written (%s)",
                   self->path != NULL ? self->path : "standard output", self->n_pending, local->message);
      /* A partial write may have landed: the next one repeats at most
       * those lines, never loses any. */
      if (!self->failing)
        g_warning ("%s: %u records not written (%s); kept and written on the next flush",
                   self->path != NULL ? self->path : "standard output", self->n_pending, local->message);
      self->failing = TRUE;
      return FALSE;
    }
  g_string_truncate (self->pending, 0);
  self->n_pending = 0;
  self->failing = FALSE;
  return TRUE;
}

static void
sluice_jsonl_sink_record (SluiceCostSink *sink,
                          JsonObject     *record)
{
  SluiceJsonlSink *self = SLUICE_JSONL_SINK (sink);
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), record);
  g_autofree char *line = sluice_json_to_string (node);

  g_mutex_lock (&self->mutex);
  g_string_append (self->pending, line);
  g_string_append_c (self->pending, '\n');
  self->n_pending++;
  if (self->pending->len >= WRITE_AT_BYTES && !self->failing)
    {
      g_autoptr(GError) error = NULL;

      write_pending (self, &error);   /* reported there; kept on failure */
    }
  g_mutex_unlock (&self->mutex);
}

static gboolean
sluice_jsonl_sink_configure (SluiceCostSink  *sink,
                             JsonObject      *config,
                             GError         **error)
{
  SluiceJsonlSink *self = SLUICE_JSONL_SINK (sink);
  const char *path = sluice_json_get_string (config, "path");

  if (path == NULL || *path == '\0')
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                           "jsonl: 'path' names the file to append records to, or - for standard output");
      return FALSE;
    }
  g_clear_pointer (&self->path, g_free);
  if (!g_str_equal (path, "-"))
    {
      FILE *file = fopen (path, "a");

      /* A path that cannot be opened at all is a mistake to show now. */
      if (file == NULL)
        {
          int saved = errno;

          g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG, "jsonl: %s: %s", path, g_strerror (saved));
          return FALSE;
        }
      fclose (file);
      self->path = g_strdup (path);
    }
  return TRUE;
}

static void
sluice_jsonl_sink_flush_async (SluiceCostSink      *sink,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  SluiceJsonlSink *self = SLUICE_JSONL_SINK (sink);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  GError *error = NULL;
  gboolean ok;

  g_task_set_source_tag (task, sluice_jsonl_sink_flush_async);
  g_mutex_lock (&self->mutex);
  ok = write_pending (self, &error);
  g_mutex_unlock (&self->mutex);
  if (ok)
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static gboolean
sluice_jsonl_sink_flush_finish (SluiceCostSink  *sink,
                                GAsyncResult    *result,
                                GError         **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
sluice_jsonl_sink_finalize (GObject *object)
{
  SluiceJsonlSink *self = SLUICE_JSONL_SINK (object);
  g_autoptr(GError) error = NULL;

  /* The last chance: its failure is reported here, as a loss, not as
   * something kept for a next flush that will never come. */
  self->failing = TRUE;
  if (!write_pending (self, &error))
    g_warning ("at exit: %s; they are lost", error->message);
  g_string_free (self->pending, TRUE);
  g_free (self->path);
  g_mutex_clear (&self->mutex);

  G_OBJECT_CLASS (sluice_jsonl_sink_parent_class)->finalize (object);
}

static void
sluice_jsonl_sink_class_init (SluiceJsonlSinkClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sluice_jsonl_sink_finalize;
}

static void
sluice_jsonl_sink_init (SluiceJsonlSink *self)
{
  g_mutex_init (&self->mutex);
  self->pending = g_string_new (NULL);
}

static void
sluice_jsonl_sink_iface_init (SluiceCostSinkInterface *iface)
{
  iface->configure = sluice_jsonl_sink_configure;
  iface->record = sluice_jsonl_sink_record;
  iface->flush_async = sluice_jsonl_sink_flush_async;
  iface->flush_finish = sluice_jsonl_sink_flush_finish;
}
