/* sluice-validate-stage.c — checks the parsed answer against the
 * pipeline's `output` schema; optionally asks the model to correct it.
 *
 * A correction appends the model's answer and the violations to the
 * messages and re-runs from the `call` stage (bounded by
 * correction_retries and the pipeline's max_reruns; the parse stage's
 * corrections count against the same bound).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-validate-stage.h"

struct _SluiceValidateStage
{
  GObject         parent_instance;

  SluicePipeline *pipeline;   /* not owned: the pipeline owns its stages */
  guint           correction_retries;
};

static void sluice_validate_stage_iface_init (SluiceStageInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (SluiceValidateStage, sluice_validate_stage, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (SLUICE_TYPE_STAGE, sluice_validate_stage_iface_init))

static gboolean
sluice_validate_stage_configure (SluiceStage     *stage,
                                 SluicePipeline  *pipeline,
                                 JsonObject      *config,
                                 GError         **error)
{
  SluiceValidateStage *self = SLUICE_VALIDATE_STAGE (stage);

  if (sluice_pipeline_get_output_schema (pipeline) == NULL)
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                           "the pipeline has no 'output' schema to validate against");
      return FALSE;
    }

  self->pipeline = pipeline;
  self->correction_retries = (guint) sluice_json_get_int (config, "correction_retries", 0);
  if (self->correction_retries > 0 && !sluice_pipeline_has_stage (pipeline, "call"))
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                           "correction_retries needs a call stage before validate");
      return FALSE;
    }
  return TRUE;
}

static SluiceVerdict
sluice_validate_stage_process (SluiceStage    *stage,
                               SluiceContext  *context,
                               GError        **error)
{
  SluiceValidateStage *self = SLUICE_VALIDATE_STAGE (stage);
  JsonNode *output = sluice_context_get_output (context);
  g_autoptr(GError) violation = NULL;

  if (output == NULL)
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_VALIDATION,
                           "there is no parsed answer to validate: put a parse stage before validate");
      return SLUICE_VERDICT_FAIL;
    }

  if (sluice_pipeline_validate_output (self->pipeline, output, &violation))
    return SLUICE_VERDICT_CONTINUE;

  if (sluice_context_get_n_reruns (context) < self->correction_retries)
    {
      g_autofree char *feedback =
        g_strdup_printf ("Your answer does not satisfy the required JSON Schema: %s. "
                         "Reply again with only the corrected JSON.", violation->message);

      sluice_context_ask_for_correction (context, feedback);
      return SLUICE_VERDICT_RERUN;
    }

  sluice_context_set_output (context, NULL);
  g_propagate_error (error, g_steal_pointer (&violation));
  return SLUICE_VERDICT_FAIL;
}

static void
sluice_validate_stage_class_init (SluiceValidateStageClass *klass)
{
}

static void
sluice_validate_stage_init (SluiceValidateStage *self)
{
}

static void
sluice_validate_stage_iface_init (SluiceStageInterface *iface)
{
  iface->configure = sluice_validate_stage_configure;
  iface->process = sluice_validate_stage_process;
}
