/* sluice-assemble-stage.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <sluice.h>

G_BEGIN_DECLS

#define SLUICE_TYPE_ASSEMBLE_STAGE (sluice_assemble_stage_get_type ())
G_DECLARE_FINAL_TYPE (SluiceAssembleStage, sluice_assemble_stage, SLUICE, ASSEMBLE_STAGE, GObject)

G_END_DECLS
