# Step 6: how good was the identification? Compare with the simulator's truth.
#   Rscript examples/evaluate.R [FOLDER]
library(lynxid)
args <- commandArgs(trailingOnly = TRUE)
work <- if (length(args)) args[1] else Sys.getenv("LYNXID_EXAMPLE_DIR", "lynxid-example")

sim <- read_survey(file.path(work, "survey"))
res <- read_results(file.path(work, "results"))
acc <- survey_accuracy(res, sim)
cat(sprintf("%.1f %% of detections correctly identified (known %.1f %%, new called new %.1f %%), ARI %.3f\n",
            100 * acc$accuracy, 100 * acc$known_accuracy, 100 * acc$new_recall, acc$ari))
