# Step 5: camera operation and the capture history for secr (and oSCR, nimble/JAGS, Rcapture,
# RMark), from identify()'s results.
#   Rscript examples/capture_history.R [FOLDER]
library(lynxid)
args <- commandArgs(trailingOnly = TRUE)
work <- if (length(args)) args[1] else Sys.getenv("LYNXID_EXAMPLE_DIR", "lynxid-example")
stations <- file.path(work, "survey", "stations.csv")

camop <- camera_operation(stations)
dim(camop)
det <- read_results(file.path(work, "results"))      # identify()'s data frame, read back
ch <- capture_history(det, stations, occasion_length = 5, unknown_stations = "exclude")
ch
ch$issues                                     # every record left out, with its reason
files <- write_capture_history(ch, file.path(work, "capture_history"), formats = c("secr", "oscr"))
files$secr
if (requireNamespace("secr", quietly = TRUE)) summary(ch$data)   # a secr capthist
