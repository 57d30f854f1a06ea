/* sluice-call-private.h — what the call stage's files share.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "sluice-call-stage.h"
#include "sluice-budget-private.h"

G_BEGIN_DECLS

typedef enum
{
  JITTER_FULL,
  JITTER_DECORRELATED,
  JITTER_NONE,
} Jitter;

/* How a target is told the shape of the answer (structured_output). */
typedef enum
{
  CALL_STRUCTURED_OFF,
  CALL_STRUCTURED_NATIVE,      /* the provider's own means */
  CALL_STRUCTURED_PROMPT,      /* an instruction with the schema in the system message */
  CALL_STRUCTURED_AUTO,        /* native where the provider has it, else prompt; resolved per target */
} CallStructured;

/* One entry of `targets:`. */
typedef struct
{
  SluiceProvider *provider;
  char           *provider_name;
  char           *model;
  char           *name;            /* the target's `name`, else provider/model */
  JsonObject     *public_target;   /* without api_key and extra_headers */
  gint64          timeout_ms;
  guint           max_attempts;
  gboolean        hedge;
  CallStructured  structured;      /* resolved: off, native or prompt */
} CallTarget;

struct _SluiceCallStage
{
  GObject               parent_instance;

  GPtrArray            *targets;          /* of CallTarget */
  SluiceTargetSet      *set;              /* the policy's view, with breakers */
  SluiceFallbackPolicy *policy;
  gint64                deadline_ms;      /* 0: none */

  gint64                base_ms;
  gint64                cap_ms;
  gint64                max_retry_after_ms;
  Jitter                jitter;
  guint                 budget_attempts;
  gint64                budget_wait_ms;   /* 0: none */
  gint64                budget_wasted_tokens;   /* -1: none */

  guint                 unhealthy_kinds;  /* bit per SluiceErrorCode */
  gboolean              fallback_on_rejection;   /* on_rejected_answer: fallback */
  SluiceBudget         *budget;           /* NULL: no spending caps */

  gboolean              hedging;
  gint64                hedge_after_ms;   /* > 0: fixed; 0: the percentile */
  gdouble               hedge_percentile;
  guint                 hedge_min_samples;

  char                 *schema_instruction;   /* for targets in prompt mode */
  SluicePipeline       *pipeline;         /* weak: where events go */
};

gboolean  sluice_call_stage_read_config (SluiceCallStage  *self,
                                         SluicePipeline   *pipeline,
                                         JsonObject       *config,
                                         GError          **error);
void      sluice_call_target_free       (CallTarget       *target);

char     *sluice_call_format_duration   (gint64            ms);
JsonObject *sluice_call_attempt_record  (CallTarget       *target,
                                         guint             target_index,
                                         SluiceContext    *context,
                                         SluiceResponse   *response,
                                         const GError     *error,
                                         const char       *started_at,
                                         gint64            delay_ms,
                                         gint64            latency_ms);
gint64    sluice_call_record_tokens     (JsonObject       *record);

gboolean  sluice_call_structured_from_name   (const char     *name,
                                              CallStructured *out);
const char *sluice_call_structured_name      (CallStructured  mode);
/* auto becomes native or prompt for @provider and @target (the others stay). */
const char    *sluice_call_structured_native_refusal (const char *provider,
                                                      JsonObject *target,
                                                      JsonNode   *schema);
CallStructured sluice_call_structured_resolve (CallStructured  mode,
                                              const char     *provider,
                                              JsonObject     *target,
                                              JsonNode       *schema);
char     *sluice_call_structured_instruction (JsonNode       *schema);
/* (transfer full): @messages with @instruction appended to the system
 * message (one is put first when there is none); the others shared. */
JsonArray *sluice_call_structured_messages   (JsonArray      *messages,
                                              const char     *instruction);

G_END_DECLS
