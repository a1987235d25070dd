#!/usr/bin/env python3
"""The scripts of a GitHub workflow's steps, for running or checking them.

    workflow_step.py WORKFLOW.yml JOB STEP_ID ENV_NAME...
        Print the script of one step, to run it as is. Fails if the step
        reads an environment variable not among ENV_NAME (the caller would
        not provide it) or interpolates a ${{ }} expression into its script
        (it could not run outside GitHub, and an expression there is an
        injection risk anyway).
    workflow_step.py --all WORKFLOW.yml DIR
        Write every `run:` script to DIR/JOB-N.bash, with a bash shebang,
        each ${{ }} expression replaced by a placeholder, for shellcheck.
"""

import os
import re
import sys

import yaml


def write_all(path, out_dir):
    with open(path) as f:
        workflow = yaml.safe_load(f)
    for job_name, job in workflow["jobs"].items():
        for n, step in enumerate(job.get("steps", [])):
            if "run" not in step:
                continue
            script = re.sub(r"\$\{\{.*?\}\}", "EXPRESSION", step["run"])
            name = os.path.join(out_dir, "%s-%d.bash" % (job_name, n))
            with open(name, "w") as f:
                f.write("#!/usr/bin/env bash\n# %s: %s\n%s" % (path, step.get("name", "step %d" % n), script))


def main():
    if sys.argv[1] == "--all":
        write_all(sys.argv[2], sys.argv[3])
        return
    path, job, step_id, *known = sys.argv[1:]
    with open(path) as f:
        workflow = yaml.safe_load(f)
    steps = [s for s in workflow["jobs"][job]["steps"] if s.get("id") == step_id]
    if len(steps) != 1:
        sys.exit("%s: job %s has %d steps with id %s" % (path, job, len(steps), step_id))
    step = steps[0]
    unknown = set(step.get("env", {})) - set(known)
    if unknown:
        sys.exit("%s: step %s reads %s, which the caller does not provide" % (path, step_id, sorted(unknown)))
    if "${{" in step["run"]:
        sys.exit("%s: step %s interpolates an expression into its script" % (path, step_id))
    sys.stdout.write(step["run"])


if __name__ == "__main__":
    main()
