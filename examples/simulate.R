# Step 1: simulate a small lynx survey (photos, stations, MegaDetector boxes, a catalogue of
# known individuals and the truth) -- the project's own example data, made offline.
#   Rscript examples/simulate.R [FOLDER]      (default: ./lynxid-example)
library(lynxid)
args <- commandArgs(trailingOnly = TRUE)
work <- if (length(args)) args[1] else Sys.getenv("LYNXID_EXAMPLE_DIR", "lynxid-example")

sim <- simulate_survey(file.path(work, "survey"), n_individuals = 6, n_known = 4, n_days = 20,
                       max_detections = 12, seed = 4)
sim
head(read.csv(sim$stations))
