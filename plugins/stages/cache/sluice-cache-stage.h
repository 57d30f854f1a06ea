/* sluice-cache-stage.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <sluice.h>

G_BEGIN_DECLS

#define SLUICE_TYPE_CACHE_STAGE (sluice_cache_stage_get_type ())
G_DECLARE_FINAL_TYPE (SluiceCacheStage, sluice_cache_stage, SLUICE, CACHE_STAGE, GObject)

G_END_DECLS
