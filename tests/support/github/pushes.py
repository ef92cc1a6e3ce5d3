"""What happens on GitHub when a branch moves or a pull request opens or closes: the refs
change, then the webhooks go out (`push`, and `pull_request` for the pull requests it touches).
"""

from __future__ import annotations

import threading

from tests.support.github.events import Events
from tests.support.github.gitstore import ZERO_SHA
from tests.support.github.hooks import Dispatcher
from tests.support.github.world import PullRequest, Repository, World


class Pushes:
    def __init__(self, world: World, events: Events, dispatcher: Dispatcher) -> None:
        self.world = world
        self.events = events
        self.dispatcher = dispatcher
        self.git_lock = threading.RLock()  # one ref change at a time, in the order made

    def update(self, repo: Repository, branch: str, new: str, pusher: str) -> list[threading.Event]:
        """Move `branch` to `new` (ZERO_SHA deletes it) and send what GitHub sends."""
        with self.git_lock:
            old = repo.git.branch_sha(branch)
            commits = repo.git.new_commits(old, new) if new != ZERO_SHA else []
            repo.git.set_ref(f"refs/heads/{branch}", new, old)
            with self.world.lock:
                repo.pushed_at = repo.updated_at = self.world.now()
            payload = self.events.push(
                repo, f"refs/heads/{branch}", old or ZERO_SHA, new, commits, pusher
            )
            done = self.dispatcher.emit(repo, "push", payload)
            if new != ZERO_SHA:
                for pull in self._open_pulls_from(repo, branch):
                    done += self._synchronize(pull, repo, new, pusher)
        return done

    def _open_pulls_from(self, repo: Repository, branch: str) -> list[PullRequest]:
        with self.world.lock:
            return [
                pull
                for pull in self.world.pulls.values()
                if pull.state == "open"
                and pull.head_repo == repo.full_name
                and pull.head_ref == branch
            ]

    def _pull_ref(self, pull: PullRequest, head: Repository) -> None:
        """refs/pull/N/head in the base repository, where a client fetches a fork's work."""
        base = self.world.repo(pull.repo)
        assert base is not None
        base.git.fetch(head.git, f"refs/heads/{pull.head_ref}", f"refs/pull/{pull.number}/head")

    def _synchronize(
        self, pull: PullRequest, head: Repository, new: str, pusher: str
    ) -> list[threading.Event]:
        before = pull.head_sha
        with self.world.lock:
            pull.head_sha, pull.updated_at = new, self.world.now()
        self._pull_ref(pull, head)
        base, payload = self.events.pull_request(
            pull, "synchronize", pusher, before=before, after=new
        )
        return self.dispatcher.emit(base, "pull_request", payload)

    def open_pull(
        self,
        base: Repository,
        head: Repository,
        head_ref: str,
        base_ref: str,
        title: str,
        body: str,
        author: str,
    ) -> tuple[PullRequest, list[threading.Event]]:
        head_sha = head.git.branch_sha(head_ref)
        if head_sha is None:
            raise ValueError(f"{head.full_name} has no branch {head_ref!r}")
        if base.git.branch_sha(base_ref) is None:
            raise ValueError(f"{base.full_name} has no branch {base_ref!r}")
        with self.git_lock:
            with self.world.lock:
                now = self.world.now()
                pull = PullRequest(
                    id=self.world.new_id(),
                    number=base.next_number,
                    repo=base.full_name,
                    head_repo=head.full_name,
                    head_ref=head_ref,
                    head_sha=head_sha,
                    base_ref=base_ref,
                    title=title,
                    body=body,
                    user=author,
                    created_at=now,
                    updated_at=now,
                )
                base.next_number += 1
            self._pull_ref(pull, head)  # before the API can show it: its ref exists
            with self.world.lock:
                self.world.pulls[(base.full_name, pull.number)] = pull
            repo, payload = self.events.pull_request(pull, "opened", author)
            return pull, self.dispatcher.emit(repo, "pull_request", payload)

    def close_pull(self, pull: PullRequest, merged: bool, sender: str) -> list[threading.Event]:
        """Close it; merged, the base branch gets a merge commit (and a `push`) first."""
        base = self.world.repo(pull.repo)
        assert base is not None
        done: list[threading.Event] = []
        with self.git_lock:
            if pull.state != "open":
                raise ValueError(f"pull request #{pull.number} is not open")
            if merged:
                target = base.git.branch_sha(pull.base_ref)
                assert target is not None
                source = f"{pull.head_repo.split('/')[0]}/{pull.head_ref}"
                message = f"Merge pull request #{pull.number} from {source}"
                merge = base.git.merge(target, pull.head_sha, message)
                if merge is None:
                    raise ValueError(f"pull request #{pull.number} does not merge cleanly")
                done += self.update(base, pull.base_ref, merge, sender)
            with self.world.lock:
                now = self.world.now()
                pull.state, pull.closed_at, pull.updated_at = "closed", now, now
                if merged:
                    pull.merged, pull.merged_at, pull.merge_commit_sha = True, now, merge
            repo, payload = self.events.pull_request(pull, "closed", sender)
            done += self.dispatcher.emit(repo, "pull_request", payload)
        return done  # the caller waits for them, with the lock released
