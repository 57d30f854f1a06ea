/* sluice-pipeline.h — a loaded pipeline file and its runner.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined (SLUICE_INSIDE) && !defined (SLUICE_COMPILATION)
# error "Only <sluice.h> can be included directly."
#endif

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "sluice-context.h"
#include "sluice-engine.h"
#include "sluice-stage.h"

G_BEGIN_DECLS

#define SLUICE_TYPE_PIPELINE (sluice_pipeline_get_type ())
G_DECLARE_FINAL_TYPE (SluicePipeline, sluice_pipeline, SLUICE, PIPELINE, GObject)

/**
 * sluice_pipeline_new_from_file:
 * @engine: the engine that provides the plugins
 * @path: a YAML or JSON pipeline file
 * @error: return location for a #GError
 *
 * Loads, checks and configures a pipeline. On failure @error holds every
 * problem found, one `file:line:col: message` per line.
 *
 * Returns: (transfer full) (nullable): the pipeline
 */
SluicePipeline *sluice_pipeline_new_from_file    (SluiceEngine        *engine,
                                                  const char          *path,
                                                  GError             **error);

const char     *sluice_pipeline_get_name         (SluicePipeline      *self);
/**
 * sluice_pipeline_emit_event:
 * @self: a #SluicePipeline
 * @event: `breaker_open`, `breaker_half_open`, `breaker_closed`,
 *   `budget_exceeded`, ...
 * @target: (nullable): the target it concerns
 * @context: (nullable): the request it happened in
 * @detail: (nullable) (transfer none): what else is worth keeping
 *
 * Emits #SluicePipeline::event with the record `{"type": "event", "time",
 * "event", "target", "pipeline", "request_id", "labels", "detail"}`; the
 * log stage hands it to the pipeline's sinks.
 */
void            sluice_pipeline_emit_event       (SluicePipeline      *self,
                                                  const char          *event,
                                                  const char          *target,
                                                  SluiceContext       *context,
                                                  JsonObject          *detail);
/**
 * sluice_pipeline_get_path:
 * Returns: (transfer none): the file the pipeline came from
 */
const char     *sluice_pipeline_get_path         (SluicePipeline      *self);
/**
 * sluice_pipeline_resolve_path:
 * @self: a #SluicePipeline
 * @relative: a path written in the pipeline file
 *
 * Returns: (transfer full): @relative resolved against the file's folder
 */
char           *sluice_pipeline_resolve_path     (SluicePipeline      *self,
                                                  const char          *relative);
/**
 * sluice_pipeline_get_engine:
 * Returns: (transfer none): the engine
 */
SluiceEngine   *sluice_pipeline_get_engine       (SluicePipeline      *self);
/**
 * sluice_pipeline_get_input_schema:
 * Returns: (transfer none) (nullable): the JSON Schema of a request
 */
JsonNode       *sluice_pipeline_get_input_schema (SluicePipeline      *self);
/**
 * sluice_pipeline_check_input_path:
 * @path: a dotted name (`chat.turns`) or a JSON Pointer (`/chat/turns`)
 *
 * For a stage whose configuration names an input value: a misspelt name
 * must not quietly turn a feature off. Fails when the `input` schema
 * cannot hold a value there (an object with `additionalProperties:
 * false` that does not declare the name); passes without an `input`
 * schema, or where it is open.
 *
 * Returns: %FALSE with @error set when the input cannot have @path
 */
gboolean        sluice_pipeline_check_input_path (SluicePipeline      *self,
                                                  const char          *path,
                                                  GError             **error);
/**
 * sluice_pipeline_get_output_schema:
 * Returns: (transfer none) (nullable): the JSON Schema of the answer
 */
JsonNode       *sluice_pipeline_get_output_schema (SluicePipeline     *self);
/**
 * sluice_pipeline_validate_input:
 * @self: a #SluicePipeline
 * @instance: a request input
 * @error: a %SLUICE_ERROR_INVALID_INPUT error naming the failing path
 *
 * Returns: %TRUE when @instance satisfies the `input` schema (or there is none)
 */
gboolean        sluice_pipeline_validate_input   (SluicePipeline      *self,
                                                  JsonNode            *instance,
                                                  GError             **error);
/**
 * sluice_pipeline_validate_output:
 * @self: a #SluicePipeline
 * @instance: a parsed answer
 * @error: a %SLUICE_ERROR_VALIDATION error naming the failing path
 *
 * Returns: %TRUE when @instance satisfies the `output` schema (or there is none)
 */
gboolean        sluice_pipeline_validate_output  (SluicePipeline      *self,
                                                  JsonNode            *instance,
                                                  GError             **error);
/**
 * sluice_pipeline_check_output:
 * @self: a #SluicePipeline
 * @instance: a parsed answer
 * @max_violations: the most violations to report (at least one)
 *
 * Like sluice_pipeline_validate_output(), for a stage that shows the model
 * (or the user) every reason: each violation is an object with
 * `instance_path` (a JSON Pointer into @instance, "" for the root),
 * `keyword_path` (the failing keyword in the schema) and `message` (which
 * never quotes a string value of @instance).
 *
 * Returns: (transfer full) (nullable): %NULL when @instance satisfies the
 *   `output` schema (or there is none), else its violations
 */
JsonArray      *sluice_pipeline_check_output     (SluicePipeline      *self,
                                                  JsonNode            *instance,
                                                  guint                max_violations);
/**
 * sluice_pipeline_check_input:
 *
 * sluice_pipeline_check_output() for the `input` schema.
 *
 * Returns: (transfer full) (nullable): %NULL when @instance satisfies the
 *   `input` schema (or there is none), else its violations
 */
JsonArray      *sluice_pipeline_check_input      (SluicePipeline      *self,
                                                  JsonNode            *instance,
                                                  guint                max_violations);
/**
 * sluice_pipeline_get_max_reruns:
 * Returns: how often a request may be sent back to an earlier stage
 *   (`max_reruns`)
 */
guint           sluice_pipeline_get_max_reruns   (SluicePipeline      *self);
guint           sluice_pipeline_get_n_stages     (SluicePipeline      *self);
/**
 * sluice_pipeline_get_stage:
 * @self: a #SluicePipeline
 * @index: the stage's position
 *
 * Returns: (transfer none): the stage
 */
SluiceStage    *sluice_pipeline_get_stage        (SluicePipeline      *self,
                                                  guint                index);
/**
 * sluice_pipeline_get_stage_name:
 * @self: a #SluicePipeline
 * @index: the stage's position
 *
 * Returns: (transfer none): the stage's plugin name
 */
const char     *sluice_pipeline_get_stage_name   (SluicePipeline      *self,
                                                  guint                index);

/**
 * sluice_pipeline_get_stage_config:
 * @self: a #SluicePipeline
 * @name: a stage's plugin name
 *
 * The block of the first stage of that name, as the pipeline file gives
 * it (variables expanded); available while the pipeline is being
 * configured too, for stages that come later in the file (the
 * `token-count` stage reads the `call` stage's target this way).
 *
 * Returns: (transfer none) (nullable): the block, or %NULL when there is
 *   no such stage or its block is not an object
 */
JsonObject     *sluice_pipeline_get_stage_config (SluicePipeline      *self,
                                                  const char          *name);

/**
 * sluice_pipeline_has_stage:
 * @self: a #SluicePipeline
 * @name: a stage's plugin name
 *
 * Also true while the pipeline is being configured, for stages that come
 * later in the file.
 *
 * Returns: %TRUE if the pipeline has a stage of that name
 */
gboolean        sluice_pipeline_has_stage        (SluicePipeline      *self,
                                                  const char          *name);

/**
 * sluice_pipeline_process_async:
 * @self: a #SluicePipeline
 * @context: the request; if it already carries an error (e.g. an input
 *   that could not be read) only the `complete` phase runs
 * @cancellable: (nullable): cancels the request
 * @callback: (scope async): called when the request has its one result
 * @user_data: (closure): data for @callback
 *
 * Runs every stage in order, then every stage's `complete` in reverse.
 */
void            sluice_pipeline_process_async    (SluicePipeline      *self,
                                                  SluiceContext       *context,
                                                  GCancellable        *cancellable,
                                                  GAsyncReadyCallback  callback,
                                                  gpointer             user_data);
/**
 * sluice_pipeline_process_finish:
 * @self: a #SluicePipeline
 * @result: the #GAsyncResult
 * @error: return location for the request's error
 *
 * The result itself is in the context: sluice_context_dup_result().
 *
 * Returns: %TRUE when the request produced an output
 */
gboolean        sluice_pipeline_process_finish   (SluicePipeline      *self,
                                                  GAsyncResult        *result,
                                                  GError             **error);
/**
 * sluice_pipeline_flush_async:
 * @self: a #SluicePipeline
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when every stage has flushed
 * @user_data: (closure): data for @callback
 */
void            sluice_pipeline_flush_async      (SluicePipeline      *self,
                                                  GCancellable        *cancellable,
                                                  GAsyncReadyCallback  callback,
                                                  gpointer             user_data);
gboolean        sluice_pipeline_flush_finish     (SluicePipeline      *self,
                                                  GAsyncResult        *result,
                                                  GError             **error);

G_END_DECLS
