# Step 4: review the uncertain matches. review_report() writes results/review.html (opens in
# RStudio's viewer or the browser); decide, "Download decisions.csv", then save_decisions().
# Here a reviewer's decision is simulated: the first animal is confirmed.
#   Rscript examples/review.R [FOLDER]
library(lynxid)
args <- commandArgs(trailingOnly = TRUE)
work <- if (length(args)) args[1] else Sys.getenv("LYNXID_EXAMPLE_DIR", "lynxid-example")
results <- file.path(work, "results")
catalogue <- file.path(work, "catalogue")

review_report(results, catalogue, open = interactive())

det <- read_results(results)$detections
todo <- det[det$needs_review | det$is_new, ]
first <- todo[todo$event_id == todo$event_id[1], ]
save_decisions(data.frame(detection_id = first$detection_id, event_id = first$event_id, file = first$file,
                          action = "confirm", individual_id = first$individual_id, reviewer = "example",
                          timestamp = format(Sys.time(), "%Y-%m-%dT%H:%M:%SZ", tz = "UTC"), note = ""),
               results)
read_decisions(results)
# rerunning identify() into the same folder applies results/decisions.csv (features are cached)
res <- identify(file.path(work, "survey", "images"), catalogue,
                megadetector = file.path(work, "survey", "megadetector.json"), out = results)
table(res$detections$decision)
