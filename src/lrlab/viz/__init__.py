"""Pictures: schedule curves, training curves, the gradient-descent animation, decision boundaries, the report.

Modules (each imports matplotlib, Pillow or torch only when a function runs, so `lrlab list` stays light):
- `schedule_plots`: `plot_schedules(schedules, steps, path, log=False)`: curves with markers at boundaries and restarts.
- `run_curves`: `plot_curves(comparison, path)`: loss, validation metric and lr per epoch, bands over seeds.
- `animate`: `animate(schedules, "descent.gif")`: gradient descent on the first seed's line, one row per schedule.
- `boundary`: `plot_boundary(model, x, y, path)`: P(y = 1) contours of a 2-D classifier.
- `report`: `write_report(comparison, "report.html", command=...)`: one self-contained HTML file.
- `gallery`: `run_demo(name, out_dir)`: the source tutorials' experiments reproduced (`lrlab demo`).
- `terminal`: `preview(schedules, steps)`: a text preview, no plotting library needed.
"""
