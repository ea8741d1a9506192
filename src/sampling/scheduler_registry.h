// Constructors of the individual schedulers (one source file each), used by make_scheduler.
#pragma once
#include <memory>

#include "sampling/scheduler.h"

namespace ipa::sampling {

std::unique_ptr<Scheduler> make_ddim_scheduler(SchedulerConfig config);
std::unique_ptr<Scheduler> make_pndm_scheduler(SchedulerConfig config);
std::unique_ptr<Scheduler> make_euler_scheduler(SchedulerConfig config);
std::unique_ptr<Scheduler> make_euler_ancestral_scheduler(SchedulerConfig config);
std::unique_ptr<Scheduler> make_dpm_solver_multistep_scheduler(SchedulerConfig config);
std::unique_ptr<Scheduler> make_lms_scheduler(SchedulerConfig config);
std::unique_ptr<Scheduler> make_lcm_scheduler(SchedulerConfig config);
std::unique_ptr<Scheduler> make_tcd_scheduler(SchedulerConfig config);

}  // namespace ipa::sampling
