/* sluice-cost-sink.h — the extension point that receives usage records.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined (SLUICE_INSIDE) && !defined (SLUICE_COMPILATION)
# error "Only <sluice.h> can be included directly."
#endif

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define SLUICE_TYPE_COST_SINK (sluice_cost_sink_get_type ())
G_DECLARE_INTERFACE (SluiceCostSink, sluice_cost_sink, SLUICE, COST_SINK, GObject)

/**
 * SluiceCostSinkInterface:
 * @configure: read the sink's configuration
 * @record: take one usage record; must not block (buffer it)
 * @flush_async: write out everything recorded so far
 * @flush_finish: finish @flush_async
 *
 * A usage record is a flat JSON object. `type` is `attempt` (one per
 * provider attempt; see #SluiceContext for its members, plus `request_id`,
 * `job_id`, `pipeline` and `labels`) or `request` (one per request, with
 * `outcome`, `error_kind`, `attempts`, token and cost totals and
 * `latency_ms`), so that a request which never reached a provider is
 * still accounted for.
 */
struct _SluiceCostSinkInterface
{
  GTypeInterface parent_iface;

  gboolean (*configure)    (SluiceCostSink       *self,
                            JsonObject           *config,
                            GError              **error);
  void     (*record)       (SluiceCostSink       *self,
                            JsonObject           *record);
  void     (*flush_async)  (SluiceCostSink       *self,
                            GCancellable         *cancellable,
                            GAsyncReadyCallback   callback,
                            gpointer              user_data);
  gboolean (*flush_finish) (SluiceCostSink       *self,
                            GAsyncResult         *result,
                            GError              **error);

  /*< private >*/
  gpointer padding[8];
};

/**
 * sluice_cost_sink_configure:
 * @self: a #SluiceCostSink
 * @config: (transfer none): the sink's configuration
 * @error: return location for a #GError
 *
 * Returns: %TRUE if accepted
 */
gboolean sluice_cost_sink_configure    (SluiceCostSink       *self,
                                        JsonObject           *config,
                                        GError              **error);
/**
 * sluice_cost_sink_record:
 * @self: a #SluiceCostSink
 * @record: (transfer none): the usage record
 */
void     sluice_cost_sink_record       (SluiceCostSink       *self,
                                        JsonObject           *record);
/**
 * sluice_cost_sink_flush_async:
 * @self: a #SluiceCostSink
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when done
 * @user_data: (closure): data for @callback
 */
void     sluice_cost_sink_flush_async  (SluiceCostSink       *self,
                                        GCancellable         *cancellable,
                                        GAsyncReadyCallback   callback,
                                        gpointer              user_data);
/**
 * sluice_cost_sink_flush_finish:
 * @self: a #SluiceCostSink
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Returns: %TRUE if everything recorded was written
 */
gboolean sluice_cost_sink_flush_finish (SluiceCostSink       *self,
                                        GAsyncResult         *result,
                                        GError              **error);

G_END_DECLS
