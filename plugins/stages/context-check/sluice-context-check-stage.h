/* sluice-context-check-stage.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <sluice.h>

G_BEGIN_DECLS

#define SLUICE_TYPE_CONTEXT_CHECK_STAGE (sluice_context_check_stage_get_type ())
G_DECLARE_FINAL_TYPE (SluiceContextCheckStage, sluice_context_check_stage, SLUICE, CONTEXT_CHECK_STAGE, GObject)

G_END_DECLS
