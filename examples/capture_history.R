# Step 5: camera operation and the capture history for secr (and oSCR, nimble/JAGS, Rcapture,
# RMark), from identify()'s results.
#   Rscript examples/capture_history.R [FOLDER]
library(lynxid)
args <- commandArgs(trailingOnly = TRUE)
work <- if (length(args)) args[1] else Sys.getenv("LYNXID_EXAMPLE_DIR", "lynxid-example")
stations <- file.path(work, "survey", "stations.csv")

camop <- camera_operation(stations)
dim(camop)
res <- read_results(file.path(work, "results"))      # identify()'s result, read back
ch <- capture_history(res, stations, occasion_length = 5, unknown_stations = "exclude")
ch
ch$issues                                     # every record left out, with its reason
files <- write_capture_history(ch, file.path(work, "capture_history"), formats = c("secr", "oscr"))
files$secr
capthist <- as_capthist(ch)                   # a secr capthist (its ingredients without secr)
if (requireNamespace("secr", quietly = TRUE)) summary(capthist)
as_closed(ch)                                 # Rcapture; as_oscr(), as_nimble(), as_rmark() alike
