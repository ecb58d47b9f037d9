# Step 3: identify every photo of the survey against the catalogue.
#   Rscript examples/identify.R [FOLDER]
library(lynxid)
args <- commandArgs(trailingOnly = TRUE)
work <- if (length(args)) args[1] else Sys.getenv("LYNXID_EXAMPLE_DIR", "lynxid-example")

res <- identify(file.path(work, "survey", "images"), file.path(work, "catalogue"),
                megadetector = file.path(work, "survey", "megadetector.json"),
                out = file.path(work, "results"))
res                            # counts and the first detections
det <- res$detections          # one row per detection (as.data.frame(res) alike)
det[, c("file", "timestamp", "individual_id", "probability", "p_new", "needs_review")]
res$issues                     # files that could not be used, and why
head(res$candidates)           # the best catalogue candidates of each detection
summary(res)                   # per individual: detections, events, stations, first and last seen
