# Report figures with ggplot2: station map, capture timeline, effort heatmap, score
# distribution, saved as PNG in FOLDER/figures.
#   Rscript examples/plots.R [FOLDER]
library(lynxid)
library(ggplot2)
args <- commandArgs(trailingOnly = TRUE)
work <- if (length(args)) args[1] else Sys.getenv("LYNXID_EXAMPLE_DIR", "lynxid-example")
stations <- file.path(work, "survey", "stations.csv")
out <- file.path(work, "figures")
dir.create(out, showWarnings = FALSE)

res <- read_results(file.path(work, "results"))
ggsave(file.path(out, "stations-R.png"), plot_stations(res, stations), width = 7, height = 5.5)
ggsave(file.path(out, "timeline-R.png"), plot_timeline(res), width = 7, height = 4)
ggsave(file.path(out, "effort-R.png"), plot_effort(camera_operation(stations)), width = 8, height = 4)
ggsave(file.path(out, "scores-R.png"), plot(res, "scores"), width = 8, height = 3.5)   # = plot_scores(res)
list.files(out)
