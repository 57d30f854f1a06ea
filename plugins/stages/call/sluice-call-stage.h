/* sluice-call-stage.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <sluice.h>

G_BEGIN_DECLS

#define SLUICE_TYPE_CALL_STAGE (sluice_call_stage_get_type ())
G_DECLARE_FINAL_TYPE (SluiceCallStage, sluice_call_stage, SLUICE, CALL_STAGE, GObject)

G_END_DECLS
