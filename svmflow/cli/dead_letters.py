"""``svmflow dead-letters``: the messages that could not be processed, and replaying them."""

from __future__ import annotations

import argparse

from svmflow.bootstrap import Container
from svmflow.config import Settings


def cmd_dead_letters_list(settings: Settings, _: argparse.Namespace) -> int:
    letters = Container(settings).dead_letters.list_dead_letters()
    for letter in letters:
        print(f"{letter.message_id}  {letter.topic:20} {letter.reason}")
    print(f"{len(letters)} dead letter(s)")
    return 0


def cmd_dead_letters_replay(settings: Settings, args: argparse.Namespace) -> int:
    from svmflow import dead_letters

    ids = set(args.ids) if args.ids else None
    container = Container(settings)
    replayed = dead_letters.replay(container, ids)
    if settings.mode == "embedded":
        # The read model of a running `svmflow run` lives in its memory: the replay function there
        # takes these dead letters out of its listing (they are recorded as replayed already).
        dead_letters.announce(container.publisher, replayed)
    for letter in replayed:
        print(f"replayed {letter.message_id} to {letter.topic}")
    print(f"{len(replayed)} message(s) replayed")
    return 0
