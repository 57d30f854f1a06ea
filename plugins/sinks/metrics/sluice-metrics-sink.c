/* sluice-metrics-sink.c — Prometheus counters and histograms of the
 * records, in memory; written to a file on flush when a path is set.
 *
 * The file is replaced whole (written beside it, then renamed), so a
 * collector never reads half of it. A write that fails is reported by
 * the flush and tried again on the next; the counters are not lost.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-metrics-sink.h"

#include "sluice-metrics-private.h"

struct _SluiceMetricsSink
{
  GObject        parent_instance;

  SluiceMetrics *metrics;
  char          *path;   /* NULL: memory only */
};

static void sluice_metrics_sink_iface_init (SluiceCostSinkInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (SluiceMetricsSink, sluice_metrics_sink, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (SLUICE_TYPE_COST_SINK, sluice_metrics_sink_iface_init))

char *
sluice_metrics_sink_render (SluiceMetricsSink *self)
{
  g_return_val_if_fail (SLUICE_IS_METRICS_SINK (self), NULL);
  return sluice_metrics_render (self->metrics);
}

static void
sluice_metrics_sink_record (SluiceCostSink *sink,
                            JsonObject     *record)
{
  sluice_metrics_add_record (SLUICE_METRICS_SINK (sink)->metrics, record);
}

static gboolean
sluice_metrics_sink_configure (SluiceCostSink  *sink,
                               JsonObject      *config,
                               GError         **error)
{
  SluiceMetricsSink *self = SLUICE_METRICS_SINK (sink);
  const char *path = sluice_json_get_string (config, "path");

  g_clear_pointer (&self->path, g_free);
  if (json_object_has_member (config, "path") && (path == NULL || *path == '\0'))
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                           "metrics: 'path' names the file the Prometheus text is written to");
      return FALSE;
    }
  self->path = g_strdup (path);
  return TRUE;
}

static void
sluice_metrics_sink_flush_async (SluiceCostSink      *sink,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  SluiceMetricsSink *self = SLUICE_METRICS_SINK (sink);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_autofree char *text = NULL;
  GError *error = NULL;

  g_task_set_source_tag (task, sluice_metrics_sink_flush_async);
  if (self->path == NULL)
    {
      g_task_return_boolean (task, TRUE);
      return;
    }
  text = sluice_metrics_render (self->metrics);
  if (!sluice_write_file (self->path, text, -1, &error))
    {
      g_prefix_error (&error, "metrics: ");
      g_task_return_error (task, error);
      return;
    }
  g_task_return_boolean (task, TRUE);
}

static gboolean
sluice_metrics_sink_flush_finish (SluiceCostSink  *sink,
                                  GAsyncResult    *result,
                                  GError         **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
sluice_metrics_sink_finalize (GObject *object)
{
  SluiceMetricsSink *self = SLUICE_METRICS_SINK (object);

  g_clear_pointer (&self->metrics, sluice_metrics_free);
  g_free (self->path);

  G_OBJECT_CLASS (sluice_metrics_sink_parent_class)->finalize (object);
}

static void
sluice_metrics_sink_class_init (SluiceMetricsSinkClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sluice_metrics_sink_finalize;
}

static void
sluice_metrics_sink_init (SluiceMetricsSink *self)
{
  self->metrics = sluice_metrics_new ();
}

static void
sluice_metrics_sink_iface_init (SluiceCostSinkInterface *iface)
{
  iface->configure = sluice_metrics_sink_configure;
  iface->record = sluice_metrics_sink_record;
  iface->flush_async = sluice_metrics_sink_flush_async;
  iface->flush_finish = sluice_metrics_sink_flush_finish;
}
