"""bAbI question answering tasks 1-20 (v1.2, English): checksummed files, parser, vectoriser.

Dataset: J. Weston, A. Bordes, S. Chopra, A. M. Rush, B. van Merrienboer, A. Joulin, T. Mikolov,
"Towards AI-Complete Question Answering: A Set of Prerequisite Toy Tasks",
https://arxiv.org/abs/1502.05698 (Facebook AI Research; CC BY 3.0).

Files:
    ``<root>/babi/en/qaN_<name>_{train,test}.txt.gz`` (1,000 training questions per task) and
    ``<root>/babi/en-10k/...`` (10,000), each the original text file gzip-compressed; the
    uncompressed ``.txt`` is accepted too (verified by the sha256 of its content). The root is
    resolved as for every resource (``data_dir`` argument, then ``ATTNLAB_DATA``, then the user
    cache). :func:`download_babi` fetches the original archive ``tasks_1-20_v1-2.tar.gz``
    (:data:`BABI_ARCHIVE_URLS`) and installs its files, each checked against its content sha256.

Format:
    One line per sentence, ``ID text``; a question line is ``ID question<TAB>answer<TAB>ids``
    where ``ids`` are the IDs of the supporting sentences. IDs restart at 1 for each new story.
    Questions are not memories: a question's story is every statement of its story before it.

Vectorisation (Sukhbaatar et al., "End-To-End Memory Networks", arXiv:1503.08895, section 4.1):
    the memory keeps the last ``memory_size`` (50) sentences before the question; a sentence is a
    row of word indices padded with 0 (the nil word). Memory slots are chronological
    (oldest first) and ``time`` holds the temporal index of each slot, counted backwards from
    the question (0 = the most recent sentence), as the temporal encoding ``T_A(i)`` of the
    paper's section 4.1 indexes memories by their distance to the question.
"""

from __future__ import annotations

import gzip
import logging
import os
import re
import tempfile
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import torch
from torch import Tensor

from attnlab.data.errors import CorruptFileError, DownloadError, MissingDataError
from attnlab.data.resources import (
    FileSpec,
    Resource,
    extract_archive,
    fetch_first,
    register_resource,
    resolve_data_root,
    verify_file,
)
from attnlab.data.resources import _open_url as _resource_open_url

__all__ = [
    "BABI_ARCHIVE_URLS",
    "BABI_RESOURCE",
    "BABI_TASKS",
    "BABI_VARIANTS",
    "BabiData",
    "BabiExample",
    "BabiTensors",
    "BabiVocab",
    "babi_file_name",
    "build_vocab",
    "download_babi",
    "load_babi",
    "load_babi_task",
    "parse_babi",
    "split_validation",
    "vectorize_babi",
]

logger = logging.getLogger(__name__)

BABI_TASKS: dict[int, str] = {
    1: "single-supporting-fact",
    2: "two-supporting-facts",
    3: "three-supporting-facts",
    4: "two-arg-relations",
    5: "three-arg-relations",
    6: "yes-no-questions",
    7: "counting",
    8: "lists-sets",
    9: "simple-negation",
    10: "indefinite-knowledge",
    11: "basic-coreference",
    12: "conjunction",
    13: "compound-coreference",
    14: "time-reasoning",
    15: "basic-deduction",
    16: "basic-induction",
    17: "positional-reasoning",
    18: "size-reasoning",
    19: "path-finding",
    20: "agents-motivations",
}
"""Task number -> the name used in the file names (``qa1_single-supporting-fact_train.txt``)."""

BABI_VARIANTS: tuple[str, ...] = ("en", "en-10k")
"""The English variants: ``en`` (1k training questions per task) and ``en-10k``."""

Variant = Literal["en", "en-10k"]
Split = Literal["train", "test"]

BABI_ARCHIVE_URLS: tuple[str, ...] = (
    "http://www.thespermwhale.com/jaseweston/babi/tasks_1-20_v1-2.tar.gz",
    "https://dl.fbaipublicfiles.com/babi/tasks_1-20_v1-2.tar.gz",
)
"""The original v1.2 archive (``tasks_1-20_v1-2/{en,en-10k,...}/qaN_*.txt``)."""

# (name, bytes, sha256 of the gzip file, sha256 of the original text file)
_FILES: tuple[tuple[str, int, str, str], ...] = (
    (
        "en/qa1_single-supporting-fact_test.txt.gz",
        8728,
        "d7af638095cd820091998adacd9313be38fdb50fa3d6d542cbdbb6d22e6a1993",
        "55acf66cef2f6d798e2aa1d056e1ec8f24e910ea9215b639450574321132959b",
    ),
    (
        "en/qa1_single-supporting-fact_train.txt.gz",
        8661,
        "e0c0092a5259a17bc6275dc77711983cdc49811be48324f9437cdbf239469b91",
        "c64ba9b1a49bbb111ffc4cd2ae4f129d25c012399dd7ade9679eea464b9afb05",
    ),
    (
        "en/qa2_two-supporting-facts_test.txt.gz",
        20064,
        "70951bbf2ea9b71b942a2cfab06c5913d6bb5a832eb360f96a4f694c3d638982",
        "eff93fb9cd81ba02eb765772cf7cc269769ed44ec71cbbbc19cfb16ee5eba0f6",
    ),
    (
        "en/qa2_two-supporting-facts_train.txt.gz",
        19686,
        "a4d6a1606c19636d7da84192df751b5829e6c138ac958aff87074c6783baaab1",
        "a4978af5bc0dc30191810e7c9949aaa6eae939ed0f6beb9fcb5f4330c2a27860",
    ),
    (
        "en/qa3_three-supporting-facts_test.txt.gz",
        62207,
        "af7107c24d371c6e742725e846bf28685e5e026d95b63369c810219916b6e1cf",
        "17795c977100baf8188f386522ae301b62d6c1a13efc01b3aea781e588b4d57f",
    ),
    (
        "en/qa3_three-supporting-facts_train.txt.gz",
        62677,
        "148995a773fe22f7199cc37a40abb90b062fc5c561c5094054b7f0027f0082e7",
        "a6e78019f36a02a7ed71fe6aaded0b563ff09c8deec392931801fcd9c6af4d60",
    ),
    (
        "en/qa4_two-arg-relations_test.txt.gz",
        7675,
        "26ea5d7e71ce74bd6e14358552f773ab98414915df8cd97798c210920ff0490a",
        "07f0ca18ddeea9eed4ba6d59e162adcb0ce44815721114b3540d92825509331e",
    ),
    (
        "en/qa4_two-arg-relations_train.txt.gz",
        7760,
        "1e056b096c27e904fef36d18165d9d1776bf8d2bd1fadaaab0ef0ecc7cb4bbf0",
        "c9370502d85fa382f32d1fea2111e817f81ae9e3e79eb2924a1a5392a90417fa",
    ),
    (
        "en/qa5_three-arg-relations_test.txt.gz",
        24534,
        "d468373db9617167e206555a7d67b18bace43a32728c427799b05bba3b79ee98",
        "ec825c1c8a76e63a31f0d7a7763cd63740e98332fa9bdf246a19068949bd5f97",
    ),
    (
        "en/qa5_three-arg-relations_train.txt.gz",
        23652,
        "155744024a5526be713d9daf0b1f8783161796d35426a19c8d87a6f8f91bfc2d",
        "086cd59c3ca9677bfac3d6a22ca5853c76a5c1fbae3159c7c4a6aef759a74ec0",
    ),
    (
        "en/qa6_yes-no-questions_test.txt.gz",
        10399,
        "7cb0d6af91eb26e6abd71dc0a7d35c06e06d5955dc9c834c718e9c43ed392d3a",
        "b108b16f1eccbd1c24df6dca2649079a7b2f10af7fd12d4c45a3393802de59e3",
    ),
    (
        "en/qa6_yes-no-questions_train.txt.gz",
        10554,
        "a9f33bce847b335f8d2314b41724981fc98fe1409a57f99f951139949a072a84",
        "5a133115ee35d475776df703ff605d145b11effbcdbf7e74861f9d5639246a5a",
    ),
    (
        "en/qa7_counting_test.txt.gz",
        13288,
        "f3c6f08e6449ef1eeef6a0a59db41206afeafbf837153494d04c9bdb87740702",
        "a74d1f2b91329b2bae814d41cdac2fbdfdf0328562b7d8afa9a0fa576d461e27",
    ),
    (
        "en/qa7_counting_train.txt.gz",
        14026,
        "0ae937ae3cc603c9a7b2e60b9a0442ac2d9f07c86a0d2846c0e7b9c8e66bd116",
        "dca03bd91876951c49f1c971c83c9dd55404de60201b7b6435451cf7ddb4751c",
    ),
    (
        "en/qa8_lists-sets_test.txt.gz",
        13564,
        "c7f316ad23531974d5ab321b3df17c081f3fca59a1fb683b2f5264eb74ae98c1",
        "362a653c821a580fa315a85243b4f03bfa06fa7e0269b6f8e596f8fe6911646a",
    ),
    (
        "en/qa8_lists-sets_train.txt.gz",
        13364,
        "2612a2eaa00d514f80b75b84e2ee46b813e5ee77475437796e5658570b5ad3c1",
        "058604df6f9440458317e8ae685d2b7b84261e1a80b4d6410a9140d16f81bf06",
    ),
    (
        "en/qa9_simple-negation_test.txt.gz",
        9532,
        "79485d828c09e8d6afec9f7695b6ddd45015911635bf379691ab77680490bc19",
        "63590aff3f89993db409f0e9a9eb39c2a5b9d5efff99b255d800a891b0044d9f",
    ),
    (
        "en/qa9_simple-negation_train.txt.gz",
        9604,
        "0a872ae69ca5ff0b3d2d925695a3f9d726de8ca2579c1e338efcee06ef2195dd",
        "0c3b89921af0caea1c4059ee3f7b7f2a88869f924195a428da37820446b8c49f",
    ),
    (
        "en/qa10_indefinite-knowledge_test.txt.gz",
        10138,
        "a20c2e8c572455bb4b7700b7c4364584156b4903f35c0125db30cad8bb782b2d",
        "fde8f20ed0b3ba979058ed391a566af34653f23baab5b2793ee37f87ef4e88b7",
    ),
    (
        "en/qa10_indefinite-knowledge_train.txt.gz",
        10127,
        "02dceec579e09fa97d7a9322e419d90f7dbbc3de562120959f774b40869b519f",
        "0b7691689447bab05476c5b48c44999b41e747c3978df69c18fdd87b60d6e8b3",
    ),
    (
        "en/qa11_basic-coreference_test.txt.gz",
        8978,
        "067b6a73e0813e5643d3abda6e0710295873e2610e14daa3b0181e5fbc0519b3",
        "46f3290d0158ce1285a40cd2d793f5a65f86ae5000226e165cbc85a3dfeb2f6f",
    ),
    (
        "en/qa11_basic-coreference_train.txt.gz",
        9074,
        "28606b1be3ade98f9ad8cd2e292f87252875388ba2d714cdd3cd7a0d482ae163",
        "9468de9a1f256f43dfda693a5d07182d21149a82b65f7c2451c64e9cff5eb138",
    ),
    (
        "en/qa12_conjunction_test.txt.gz",
        9587,
        "965c3318a3e2b87790ac49ec638b35f53fde38867ca864e61c90c5c8527e1879",
        "6437718f8f9801ce345869e910b896836cdc6fd2d01dc7b4d2df49730703b4b1",
    ),
    (
        "en/qa12_conjunction_train.txt.gz",
        9702,
        "eedb5a87fae39b7754462e1be0146f6f9b2580ab69c5d128a769b79210eb2503",
        "45c2764bb2d3c8f699d35e9d9aa7958fcd96379c6e907116cdf74526c108bb25",
    ),
    (
        "en/qa13_compound-coreference_test.txt.gz",
        9129,
        "75c99c76bc0ddad6fcb8edb760f0d0d24fd7279d0b77893e70250266bef33a04",
        "76a25b684f23c9cc473d8cd1465506168b9a1ec8891cfc59d0bbd87e6a064990",
    ),
    (
        "en/qa13_compound-coreference_train.txt.gz",
        9206,
        "662da7cf019efd041beab95ca133fc93350ede654e8fb65e8659c534a2109f10",
        "533a391edbda743e4c99504de88b40cdded5b1d5ef454d1390f0863f748a4cc9",
    ),
    (
        "en/qa14_time-reasoning_test.txt.gz",
        15473,
        "16d159507b9acb13754b92075480699e2c45536c9e7ee5c163d5d2eb1dbffb2a",
        "e3f0b19858ffbec3ed1e49076cc4d1295a89ce146c50318b862f13f202b3caf2",
    ),
    (
        "en/qa14_time-reasoning_train.txt.gz",
        15619,
        "1a855989abcce43bf966c7db525e71be3f88c0691df15821168c31ed7fb2515f",
        "b7561cbc624205c9c2fdbb8c843cfa8ad90edd65e78bb223fc6dea8113662df8",
    ),
    (
        "en/qa15_basic-deduction_test.txt.gz",
        7640,
        "c2bacf3e47f66bdc10f476dc3ddcc30ee015b085fd2b15e0c463511d49737d58",
        "32b77e117fe9acf5f94906684e3b5206de0108e646c76e1da3e022896ec7ee94",
    ),
    (
        "en/qa15_basic-deduction_train.txt.gz",
        7650,
        "ba0825442a6fc4b7a21803776748e8178f923a4acbdaf8fd627e7f7b7f0ef7c1",
        "e856ebfdcce4dd7d617c1d10f985e96a0850c0ca18e9a19a017cb710d135ed3d",
    ),
    (
        "en/qa16_basic-induction_test.txt.gz",
        21658,
        "17f670251fcee55a22ae362bb501c5f8650711597a1d37e5b27444fb10e71d9c",
        "4a11e55366f2a5a859b5a81f683ee23801bdbe71ef984e51adb976bd053e8dcf",
    ),
    (
        "en/qa16_basic-induction_train.txt.gz",
        21722,
        "4344ddf0c4868cd14a38383b5a9a23cce6915b5dc3d05705dbc48b4fe691c765",
        "20121005137e3d4b061a086eb177a456303d5742b764eb8da2d0e480b6af4d28",
    ),
    (
        "en/qa17_positional-reasoning_test.txt.gz",
        4797,
        "5eab2e78b8b82380a8e3e49eb3afc1b14b92274071d8d25c6d659b6f1c61e782",
        "9e1e0250ed4ec1831757fab26c04138f81ea557ebf6976a220db879cbed04bac",
    ),
    (
        "en/qa17_positional-reasoning_train.txt.gz",
        4733,
        "1df72677c034f9264055a77abbd656ab5663ce8b975f00c17c16b4b3d7fbed4c",
        "20083bf56ff74f0e7cf5e3e2f8c3905cdb8ef09293c3e8cf7a96ed8b45ae2277",
    ),
    (
        "en/qa18_size-reasoning_test.txt.gz",
        7779,
        "4e76289eeeb0299566b1197313292cc8a06c74e14815ee85f8e363dd2ff157fc",
        "d34f70eb7228a276fcb3a7854174fe562c5634f4fb454a39fc3d1ad9934be3ef",
    ),
    (
        "en/qa18_size-reasoning_train.txt.gz",
        7924,
        "8cf7982f2ce3e4debadd318c3305dc9814f4ded1c51d2aae582b7119b10cdb92",
        "18b7dcf52c9a0e87e4e7dd3d65b7e5a630de039645f52a1294197af7481d739d",
    ),
    (
        "en/qa19_path-finding_test.txt.gz",
        18389,
        "4a66b027f687497be6099d172dddc2e56776bc279996df85f0a1dbeec4d7255d",
        "023e391f0d7f79c9e6ae1c46c093e2d0dbd50ab8fbd8965e037a75e3614c20e5",
    ),
    (
        "en/qa19_path-finding_train.txt.gz",
        18421,
        "7ac02790d02a894ca6712a741382312669c8f18eb221d3bc30e04a99edbc1fed",
        "dcb788352a56effb7bea1449128f31cc9c342c8c327b6df2caeee0e379e6ad3a",
    ),
    (
        "en/qa20_agents-motivations_test.txt.gz",
        6137,
        "a010629f9c0a3497d3a5833e56327c48aa270e56a85698b90a8447e1093471a6",
        "bd3bde3788ac14ba0ae095078f7b820fbd2bfa6a34dba9d1d46a34afde9c2729",
    ),
    (
        "en/qa20_agents-motivations_train.txt.gz",
        6174,
        "d132f017cc6e73468ffcaae770e78ff17e24317c00c6d0c8756ef4193e34cd07",
        "29580ad55fb7b4b29ba014696056cc68f8f347dac3be88470fd692ad60150398",
    ),
    (
        "en-10k/qa1_single-supporting-fact_test.txt.gz",
        8728,
        "d7af638095cd820091998adacd9313be38fdb50fa3d6d542cbdbb6d22e6a1993",
        "55acf66cef2f6d798e2aa1d056e1ec8f24e910ea9215b639450574321132959b",
    ),
    (
        "en-10k/qa1_single-supporting-fact_train.txt.gz",
        79240,
        "19b260ddc4a2c958017b5a718e4da2cc5b4eee8f534ed76d7e6c3c50908e1cdb",
        "749ea9f7c99070feb2d88c975a254417a0dcc8274add4435ae5ae24c7afc7e9d",
    ),
    (
        "en-10k/qa2_two-supporting-facts_test.txt.gz",
        20064,
        "70951bbf2ea9b71b942a2cfab06c5913d6bb5a832eb360f96a4f694c3d638982",
        "eff93fb9cd81ba02eb765772cf7cc269769ed44ec71cbbbc19cfb16ee5eba0f6",
    ),
    (
        "en-10k/qa2_two-supporting-facts_train.txt.gz",
        191557,
        "5590be8ee0d15e0bc8f4e112858bd4ce13f8f970481a2a2677387942b26c8afa",
        "d4074c0c5d54f70ce2f538056ce2b6ef6a313da336da4245f1a24f1298e37ef3",
    ),
    (
        "en-10k/qa3_three-supporting-facts_test.txt.gz",
        62207,
        "af7107c24d371c6e742725e846bf28685e5e026d95b63369c810219916b6e1cf",
        "17795c977100baf8188f386522ae301b62d6c1a13efc01b3aea781e588b4d57f",
    ),
    (
        "en-10k/qa4_two-arg-relations_test.txt.gz",
        7675,
        "26ea5d7e71ce74bd6e14358552f773ab98414915df8cd97798c210920ff0490a",
        "07f0ca18ddeea9eed4ba6d59e162adcb0ce44815721114b3540d92825509331e",
    ),
    (
        "en-10k/qa4_two-arg-relations_train.txt.gz",
        70593,
        "1652180dd66f5e3b2beb892ca71a71a191d125ce9e1c5f417d59f2af6debd929",
        "5d11b821d35234988ab907866aa7ce718e6b6d751acf63bdef52262afb59f12c",
    ),
    (
        "en-10k/qa5_three-arg-relations_test.txt.gz",
        24534,
        "d468373db9617167e206555a7d67b18bace43a32728c427799b05bba3b79ee98",
        "ec825c1c8a76e63a31f0d7a7763cd63740e98332fa9bdf246a19068949bd5f97",
    ),
    (
        "en-10k/qa5_three-arg-relations_train.txt.gz",
        242065,
        "4dd853f775dfa8b2eb2f1af2195030bb18c98cfaf1d97b4845b5a514c3fc71be",
        "2506910935b701bac64fc8b1d7ff12bd8d0f47ceefca183454282bec784c12a5",
    ),
    (
        "en-10k/qa6_yes-no-questions_test.txt.gz",
        10399,
        "7cb0d6af91eb26e6abd71dc0a7d35c06e06d5955dc9c834c718e9c43ed392d3a",
        "b108b16f1eccbd1c24df6dca2649079a7b2f10af7fd12d4c45a3393802de59e3",
    ),
    (
        "en-10k/qa6_yes-no-questions_train.txt.gz",
        96361,
        "f3aaa9d6dce2da67a7ac297f2ef4bbfb7715af9a535b24bb45ed7fedd43d968d",
        "602f379184bf3cb59660d0f7769d9c94ccdc1fc4d82dfe90bd460d985b1ff0c5",
    ),
    (
        "en-10k/qa7_counting_test.txt.gz",
        13288,
        "f3c6f08e6449ef1eeef6a0a59db41206afeafbf837153494d04c9bdb87740702",
        "a74d1f2b91329b2bae814d41cdac2fbdfdf0328562b7d8afa9a0fa576d461e27",
    ),
    (
        "en-10k/qa7_counting_train.txt.gz",
        130302,
        "8dc1ccb93fa5637341aed762f2b7498c08fc29d227bd4d4bd579044d83810a3c",
        "4a2508733bef9b38cfce4b3108a91b83cdee378de4a7370e4d32fea2dacd3b7d",
    ),
    (
        "en-10k/qa8_lists-sets_test.txt.gz",
        13564,
        "c7f316ad23531974d5ab321b3df17c081f3fca59a1fb683b2f5264eb74ae98c1",
        "362a653c821a580fa315a85243b4f03bfa06fa7e0269b6f8e596f8fe6911646a",
    ),
    (
        "en-10k/qa8_lists-sets_train.txt.gz",
        126052,
        "99793c943aa80d02f6e8558bb235a16bdd85c3ef762545c21115c3944bfe931e",
        "9518da2d3aa5d98bec33335e0d5ba3a22c2bd1929ee679085d37eb50a7652e4a",
    ),
    (
        "en-10k/qa9_simple-negation_test.txt.gz",
        9532,
        "79485d828c09e8d6afec9f7695b6ddd45015911635bf379691ab77680490bc19",
        "63590aff3f89993db409f0e9a9eb39c2a5b9d5efff99b255d800a891b0044d9f",
    ),
    (
        "en-10k/qa9_simple-negation_train.txt.gz",
        87302,
        "d87dd6297b399d45e3aa185cf68a91857d3ea35323dd8e231fcabdc8ed90edb0",
        "5f8949f6ef7d64516fc4dd5732b12b5932d057b1a614e8ac94e795fb020d4ff0",
    ),
    (
        "en-10k/qa10_indefinite-knowledge_test.txt.gz",
        10138,
        "a20c2e8c572455bb4b7700b7c4364584156b4903f35c0125db30cad8bb782b2d",
        "fde8f20ed0b3ba979058ed391a566af34653f23baab5b2793ee37f87ef4e88b7",
    ),
    (
        "en-10k/qa10_indefinite-knowledge_train.txt.gz",
        93245,
        "d5c5ea76ea243110caf368463b941843dc10a9423e6d025489811cd84f9c77ba",
        "c5c0788b0446095c07a0442784cad2b59c1d58e875ebe8ad852f5e3f628613f4",
    ),
    (
        "en-10k/qa11_basic-coreference_test.txt.gz",
        8978,
        "067b6a73e0813e5643d3abda6e0710295873e2610e14daa3b0181e5fbc0519b3",
        "46f3290d0158ce1285a40cd2d793f5a65f86ae5000226e165cbc85a3dfeb2f6f",
    ),
    (
        "en-10k/qa11_basic-coreference_train.txt.gz",
        81423,
        "f305753b11bd283a730bd888909e4581045a884695ec011d92a71b7dc9a23d54",
        "edfcd97fecd4a5045af25e1790cf1408856ae362c39521b1b69cd32b88ec0ced",
    ),
    (
        "en-10k/qa12_conjunction_test.txt.gz",
        9587,
        "965c3318a3e2b87790ac49ec638b35f53fde38867ca864e61c90c5c8527e1879",
        "6437718f8f9801ce345869e910b896836cdc6fd2d01dc7b4d2df49730703b4b1",
    ),
    (
        "en-10k/qa12_conjunction_train.txt.gz",
        88289,
        "557c702ca05e87b1f9ea12116ba564271f5dcef1da5dbfa52a6810ffa0635434",
        "39d58df3564916c66cebc98befb65d605c032181e51208730fd8837a77bc166a",
    ),
    (
        "en-10k/qa13_compound-coreference_test.txt.gz",
        9129,
        "75c99c76bc0ddad6fcb8edb760f0d0d24fd7279d0b77893e70250266bef33a04",
        "76a25b684f23c9cc473d8cd1465506168b9a1ec8891cfc59d0bbd87e6a064990",
    ),
    (
        "en-10k/qa13_compound-coreference_train.txt.gz",
        82928,
        "2f057517e6f6b94b5574a4a5c90278119fe46b06bef5f6e268720b61dec13e57",
        "c530fdf122d26617a8a03ba5cdbacee87c22624ba7f50d1f07f9658c900e22d8",
    ),
    (
        "en-10k/qa14_time-reasoning_test.txt.gz",
        15473,
        "16d159507b9acb13754b92075480699e2c45536c9e7ee5c163d5d2eb1dbffb2a",
        "e3f0b19858ffbec3ed1e49076cc4d1295a89ce146c50318b862f13f202b3caf2",
    ),
    (
        "en-10k/qa14_time-reasoning_train.txt.gz",
        147009,
        "9c6c69dbbbc23da0782fd73e5859e3cb3deb6e4ac83607232acd41e2c0305463",
        "c322e0814eef71f088af1aa1334e7ae4b1ee6ca18f2ee94c05e2189226964ed6",
    ),
    (
        "en-10k/qa15_basic-deduction_test.txt.gz",
        7640,
        "c2bacf3e47f66bdc10f476dc3ddcc30ee015b085fd2b15e0c463511d49737d58",
        "32b77e117fe9acf5f94906684e3b5206de0108e646c76e1da3e022896ec7ee94",
    ),
    (
        "en-10k/qa15_basic-deduction_train.txt.gz",
        69675,
        "5273ba5e6771c98fb7d0086903084971feddf3656946b295a009ff6e09d6dff1",
        "0a86673f7fafa484f8ee394048f03de19405bdc40b58f21086969efad2862010",
    ),
    (
        "en-10k/qa16_basic-induction_test.txt.gz",
        21658,
        "17f670251fcee55a22ae362bb501c5f8650711597a1d37e5b27444fb10e71d9c",
        "4a11e55366f2a5a859b5a81f683ee23801bdbe71ef984e51adb976bd053e8dcf",
    ),
    (
        "en-10k/qa16_basic-induction_train.txt.gz",
        208418,
        "b98f57d75132671b0172f23c89922deba9631fb13176b421ce85fabd9f525fd3",
        "27fef347ce0b25dd148efea2b15f154926e0e9069d4ea6ab9cfca3add492ab35",
    ),
    (
        "en-10k/qa17_positional-reasoning_test.txt.gz",
        4797,
        "5eab2e78b8b82380a8e3e49eb3afc1b14b92274071d8d25c6d659b6f1c61e782",
        "9e1e0250ed4ec1831757fab26c04138f81ea557ebf6976a220db879cbed04bac",
    ),
    (
        "en-10k/qa17_positional-reasoning_train.txt.gz",
        41890,
        "35df425e95cfd41c87aee201351667d7934fafb8d8368af0e72311fa68329b24",
        "8a383651e009db50d6c9effed5778b8646c28c55fadb1592b5f4d8d3a187bbce",
    ),
    (
        "en-10k/qa18_size-reasoning_test.txt.gz",
        7779,
        "4e76289eeeb0299566b1197313292cc8a06c74e14815ee85f8e363dd2ff157fc",
        "d34f70eb7228a276fcb3a7854174fe562c5634f4fb454a39fc3d1ad9934be3ef",
    ),
    (
        "en-10k/qa18_size-reasoning_train.txt.gz",
        74157,
        "6c531e586105d1637f3ed5fb9916681255c11d8f0a01407b2db402c262a249e9",
        "9e7c15107067d2070170ef12579a8bfe34dfc35a7ac9ebd13f2001dc1a7488f9",
    ),
    (
        "en-10k/qa19_path-finding_test.txt.gz",
        18389,
        "4a66b027f687497be6099d172dddc2e56776bc279996df85f0a1dbeec4d7255d",
        "023e391f0d7f79c9e6ae1c46c093e2d0dbd50ab8fbd8965e037a75e3614c20e5",
    ),
    (
        "en-10k/qa19_path-finding_train.txt.gz",
        177417,
        "5d661b4ad4fa28e75ec8fd677ee516c1f00746356480183f79bbc3d77cfa6fab",
        "6cfdc6f448e3cf0e3d8a390fa3add461935b033f89ede32aeef30812401ec91e",
    ),
    (
        "en-10k/qa20_agents-motivations_test.txt.gz",
        6137,
        "a010629f9c0a3497d3a5833e56327c48aa270e56a85698b90a8447e1093471a6",
        "bd3bde3788ac14ba0ae095078f7b820fbd2bfa6a34dba9d1d46a34afde9c2729",
    ),
    (
        "en-10k/qa20_agents-motivations_train.txt.gz",
        51396,
        "d7a87eca3aeaca3678ee057e06158d8a5e4b68ab24e61ff59dcd8e6c0f5b89b9",
        "36f20f3baf6bad2297d5b9fd877e633550c36106fe78bc10ddfb7b1eede62573",
    ),
)


def babi_file_name(task: int, split: str, variant: str = "en") -> str:
    """The resource-relative name of a task file.

    Example:
        >>> babi_file_name(1, "train")
        'en/qa1_single-supporting-fact_train.txt.gz'
    """
    if isinstance(task, bool) or not isinstance(task, int) or task not in BABI_TASKS:
        raise ValueError(f"task must be an integer in 1..20, got {task!r}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if variant not in BABI_VARIANTS:
        raise ValueError(f"variant must be one of {BABI_VARIANTS}, got {variant!r}")
    return f"{variant}/qa{task}_{BABI_TASKS[task]}_{split}.txt.gz"


BABI_RESOURCE: Resource = register_resource(
    Resource(
        "babi",
        tuple(
            FileSpec(name, sha256=sha, size=size, content_sha256=content)
            for name, size, sha, content in _FILES
        ),
        description="bAbI QA tasks v1.2 (Weston et al. 2015); Facebook; CC BY 3.0",
        homepage="https://research.facebook.com/downloads/babi/",
    )
)
"""The 79 gzip files of ``en`` and ``en-10k`` (``en-10k`` qa3 training file: no pinned copy)."""


# ---------------------------------------------------------------------------------------------
# parsing


class BabiExample(NamedTuple):
    """One question with its story.

    Attributes:
        story: the statements of the story before the question, oldest first, as word lists.
        query: the question's words.
        answer: the answer (one token; lists such as ``"n,w"`` of task 19 stay one token).
        supporting: indices into ``story`` of the supporting statements.
        task: the task number (0 when unknown).
    """

    story: list[list[str]]
    query: list[str]
    answer: str
    supporting: list[int]
    task: int


_WORD = re.compile(r"[a-z0-9]+")


def _tokenize(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def parse_babi(text: str, *, task: int = 0, source: str = "<text>") -> list[BabiExample]:
    r"""Parse the text of a bAbI file into questions with their stories.

    A sentence whose ID is 1 starts a new story. Words are lower-cased; punctuation is dropped.

    Raises:
        CorruptFileError: a malformed line (named by ``source`` and line number).

    Example:
        >>> text = "1 Mary went home.\n2 Where is Mary?\thome\t1\n1 Bob ran.\n"
        >>> ex = parse_babi(text)
        >>> ex[0].story, ex[0].query, ex[0].answer, ex[0].supporting
        ([['mary', 'went', 'home']], ['where', 'is', 'mary'], 'home', [0])
    """
    examples: list[BabiExample] = []
    story: list[list[str]] = []
    line_to_index: dict[int, int] = {}
    previous = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        head, _, rest = line.partition(" ")
        try:
            ident = int(head)
        except ValueError:
            raise CorruptFileError(
                f"{source}: line {number}: expected 'ID text', got {line[:60]!r}"
            ) from None
        if ident == 1:
            story, line_to_index = [], {}
        elif ident != previous + 1:
            raise CorruptFileError(
                f"{source}: line {number}: sentence ID {ident} does not follow {previous}"
            )
        previous = ident
        if "\t" in rest:
            parts = rest.split("\t")
            if len(parts) < 2 or not parts[1].strip():
                raise CorruptFileError(f"{source}: line {number}: a question without an answer")
            try:
                ids = [int(s) for s in parts[2].split()] if len(parts) > 2 else []
                supporting = [line_to_index[i] for i in ids]
            except (ValueError, KeyError):
                raise CorruptFileError(
                    f"{source}: line {number}: bad supporting-fact IDs {parts[2]!r}"
                ) from None
            examples.append(
                BabiExample(
                    story[:],  # a shallow copy: the sentence lists are never mutated
                    _tokenize(parts[0]),
                    parts[1].strip().lower(),
                    supporting,
                    task,
                )
            )
        else:
            line_to_index[ident] = len(story)
            story.append(_tokenize(rest))
    if not examples:
        what = "is empty" if not text.strip() else "holds no question with an answer"
        raise CorruptFileError(
            f"{source}: the bAbI file {what} (expected lines 'ID question?<TAB>answer<TAB>ids')"
        )
    return examples


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        return raw.decode("utf-8")
    except (EOFError, zlib.error, gzip.BadGzipFile, UnicodeDecodeError) as error:
        raise CorruptFileError(f"{path}: cannot read the bAbI file ({error})", path=path) from None


def _fetch(name: str, data_dir: str | os.PathLike[str] | None, download: bool) -> Path:
    try:
        BABI_RESOURCE.spec(name)
    except KeyError:
        # en-10k/qa3 train: no checksummed copy is pinned; accept a local file with a warning
        root, origin = resolve_data_root(data_dir)
        folder = root / BABI_RESOURCE.name
        for candidate in (folder / name, folder / name[: -len(".gz")]):
            if candidate.is_file():
                logger.warning("%s: no sha256 is pinned for this file; used unverified", candidate)
                return candidate
        raise MissingDataError(
            f"bAbI: file not found: {folder / name} (data root {root}, from the {origin}). "
            "No checksummed copy of this file is distributed with the other bAbI files; "
            "install the original archive with download_babi(), or use variant='en' for this "
            "task.",
            path=folder / name,
        ) from None
    if download and not BABI_RESOURCE.path(name, data_dir).exists() and (
        name in BABI_RESOURCE.missing_files(data_dir)
    ):
        download_babi(data_dir)
    return BABI_RESOURCE.fetch(name, data_dir=data_dir)


def load_babi_task(
    task: int,
    split: Split = "train",
    *,
    variant: Variant = "en",
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = False,
) -> list[BabiExample]:
    """The questions of one task file, verified and parsed.

    Args:
        task: 1..20.
        split: ``"train"`` or ``"test"``.
        variant: ``"en"`` (1k) or ``"en-10k"``.
        data_dir: the data root (see :func:`attnlab.data.resources.data_root`).
        download: fetch the original archive when the file is missing.

    Raises:
        MissingDataError: the file is absent (names it and how to get it).
        CorruptFileError: the file fails its checksum or cannot be parsed.
    """
    name = babi_file_name(task, split, variant)
    path = _fetch(name, data_dir, download)
    return parse_babi(_read_text(path), task=task, source=str(path))


_open_url = _resource_open_url  # the downloader's opener (a module attribute tests can replace)


def download_babi(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    urls: Sequence[str] = BABI_ARCHIVE_URLS,
    timeout: float = 60.0,
) -> Path:
    """Download the original v1.2 archive and install its ``en`` and ``en-10k`` task files.

    The archive's own checksum is not pinned; every member listed in :data:`BABI_RESOURCE` is
    checked against the sha256 of its content before it is moved (uncompressed) into
    ``<root>/babi/<variant>/``. The one file without a pinned checksum (``en-10k`` qa3 training)
    is installed as it is. Extraction uses :func:`~attnlab.data.resources.extract_archive`.

    Returns:
        The resource folder.

    Raises:
        DownloadError: no URL worked, or a member is missing or fails its checksum.
    """
    directory = BABI_RESOURCE.directory(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory, prefix=".download.") as temp:
        archive = fetch_first(
            urls, Path(temp) / "tasks_1-20_v1-2.tar.gz", what="bAbI", timeout=timeout,
            opener=_open_url,
        )
        extracted = extract_archive(archive, Path(temp) / "members", max_bytes=500 << 20)
        names = [spec.name for spec in BABI_RESOURCE.files]
        names.append(babi_file_name(3, "train", "en-10k"))
        for name in names:
            raw_name = name[: -len(".gz")]
            found = sorted(extracted.rglob(raw_name))
            if not found:
                raise DownloadError(f"the archive holds no {raw_name}", path=archive)
            if name in {spec.name for spec in BABI_RESOURCE.files}:
                try:
                    verify_file(found[0], BABI_RESOURCE.spec(name))
                except CorruptFileError as error:
                    raise DownloadError(f"{raw_name} from the archive: {error}") from None
            target = directory / raw_name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(found[0], target)
    return directory


# ---------------------------------------------------------------------------------------------
# vocabulary and tensors


class BabiVocab:
    """Word <-> index map; index 0 is the nil (padding) word ``"<nil>"``.

    Example:
        >>> vocab = BabiVocab(["mary", "home"])
        >>> vocab.encode(["home", "mary"]), len(vocab)
        ([1, 2], 3)
    """

    NIL = "<nil>"

    def __init__(self, words: Iterable[str]) -> None:
        self.words: list[str] = [self.NIL, *sorted(set(words) - {self.NIL})]
        self.index: dict[str, int] = {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, words: Sequence[str]) -> list[int]:
        """Indices of ``words``; an unknown word raises ``KeyError`` naming it."""
        try:
            return [self.index[w] for w in words]
        except KeyError as error:
            raise KeyError(f"word {error.args[0]!r} is not in the vocabulary") from None

    def decode(self, indices: Iterable[int]) -> list[str]:
        """Words of ``indices`` (the nil word included)."""
        return [self.words[int(i)] for i in indices]


def build_vocab(*example_sets: Iterable[BabiExample]) -> BabiVocab:
    r"""The vocabulary of every story, query and answer word in ``example_sets``.

    Example:
        >>> ex = parse_babi("1 Mary went home.\n2 Where is Mary?\thome\t1\n")
        >>> build_vocab(ex).words
        ['<nil>', 'home', 'is', 'mary', 'went', 'where']
    """
    words: set[str] = set()
    for examples in example_sets:
        for ex in examples:
            for sentence in ex.story:
                words.update(sentence)
            words.update(ex.query)
            words.add(ex.answer)
    return BabiVocab(words)


class BabiTensors(NamedTuple):
    """Vectorised questions (``N`` questions, ``M`` memory slots, ``J`` words per sentence).

    Attributes:
        story: ``(N, M, J)`` word indices, slots oldest first, padded with 0.
        query: ``(N, Jq)`` word indices.
        answer: ``(N,)`` answer word index.
        time: ``(N, M)`` temporal index of each slot, 0 = most recent (0 on padding).
        mask: ``(N, M)`` bool, ``True`` at real sentences.
        supporting: ``(N, M)`` bool, ``True`` at the supporting sentences kept in memory.
        task: ``(N,)`` task number.
    """

    story: Tensor
    query: Tensor
    answer: Tensor
    time: Tensor
    mask: Tensor
    supporting: Tensor
    task: Tensor

    def subset(self, index: Tensor) -> BabiTensors:
        """The questions at ``index`` (a 1-D index tensor)."""
        return BabiTensors(*(t[index] for t in self))



def vectorize_babi(
    examples: Sequence[BabiExample],
    vocab: BabiVocab,
    *,
    memory_size: int = 50,
    sentence_len: int | None = None,
    query_len: int | None = None,
    num_slots: int | None = None,
) -> BabiTensors:
    r"""Turn questions into padded tensors, keeping the last ``memory_size`` sentences.

    Args:
        examples: parsed questions.
        vocab: the word map (unknown words raise ``KeyError``).
        memory_size: most recent sentences kept per question (paper: 50, section 4.2).
        sentence_len: ``J``; default the longest kept sentence.
        query_len: ``Jq``; default the longest query.
        num_slots: ``M``; default the longest kept story (at most ``memory_size``).

    Example:
        >>> ex = parse_babi("1 Mary went home.\n2 Bob ran.\n3 Where is Mary?\thome\t1\n")
        >>> t = vectorize_babi(ex, build_vocab(ex), memory_size=50)
        >>> t.story.shape, t.time.tolist(), t.supporting.tolist()
        (torch.Size([1, 2, 3]), [[1, 0]], [[True, False]])
    """
    if isinstance(memory_size, bool) or not isinstance(memory_size, int) or memory_size < 1:
        raise ValueError(f"memory_size must be an integer >= 1, got {memory_size!r}")
    if not examples:
        raise ValueError("examples must not be empty")
    stories = [ex.story[-memory_size:] for ex in examples]
    longest_story = max(1, max(len(s) for s in stories))
    longest_sentence = max(1, max((len(w) for s in stories for w in s), default=1))
    longest_query = max(1, max(len(ex.query) for ex in examples))
    m = longest_story if num_slots is None else num_slots
    j = longest_sentence if sentence_len is None else sentence_len
    jq = longest_query if query_len is None else query_len
    for value, need, name in ((m, longest_story, "num_slots"), (j, longest_sentence,
                              "sentence_len"), (jq, longest_query, "query_len")):
        if value < need:
            raise ValueError(f"{name}={value} is shorter than the data's {need}")
    n = len(examples)
    story = np.zeros((n, m, j), dtype=np.int64)
    query = np.zeros((n, jq), dtype=np.int64)
    answer = np.zeros(n, dtype=np.int64)
    time = np.zeros((n, m), dtype=np.int64)
    mask = np.zeros((n, m), dtype=bool)
    supporting = np.zeros((n, m), dtype=bool)
    task = np.zeros(n, dtype=np.int64)
    index = vocab.index
    rows: dict[int, np.ndarray] = {}  # questions of one story share their sentence objects
    for i, (ex, kept) in enumerate(zip(examples, stories, strict=True)):
        offset = len(ex.story) - len(kept)  # sentences dropped by the memory limit
        count = len(kept)
        if count:
            encoded = []
            for sentence in kept:
                row = rows.get(id(sentence))
                if row is None:
                    row = np.zeros(j, dtype=np.int64)
                    row[: len(sentence)] = vocab.encode(sentence)
                    rows[id(sentence)] = row
                encoded.append(row)
            story[i, :count] = np.stack(encoded)
        mask[i, :count] = True
        time[i, :count] = np.arange(count - 1, -1, -1)
        for fact in ex.supporting:
            if fact >= offset:
                supporting[i, fact - offset] = True
        if ex.query:
            query[i, : len(ex.query)] = vocab.encode(ex.query)
        if ex.answer not in index:
            raise KeyError(f"answer {ex.answer!r} is not in the vocabulary")
        answer[i] = index[ex.answer]
        task[i] = ex.task
    return BabiTensors(*(torch.from_numpy(a) for a in (story, query, answer, time, mask,
                                                        supporting, task)))


def split_validation(
    examples: Sequence[BabiExample], *, fraction: float = 0.1, seed: int = 0
) -> tuple[list[BabiExample], list[BabiExample]]:
    r"""Hold out ``fraction`` of each task's questions (deterministic in ``seed``).

    Sukhbaatar et al. (arXiv:1503.08895, section 4.2): 10% of the training set is held out for
    validation. The split is drawn per task, so every task keeps ``round(fraction * n)``.

    Example:
        >>> ex = parse_babi("".join(f"1 a b.\n2 c?\tb\t1\n" for _ in range(10)), task=1)
        >>> train, val = split_validation(ex, fraction=0.2)
        >>> len(train), len(val)
        (8, 2)
    """
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not (
        0 <= fraction < 1
    ):
        raise ValueError(f"fraction must be in [0, 1), got {fraction!r}")
    by_task: dict[int, list[int]] = {}
    for i, ex in enumerate(examples):
        by_task.setdefault(ex.task, []).append(i)
    held: set[int] = set()
    for task, indices in sorted(by_task.items()):
        generator = torch.Generator().manual_seed(seed * 1000 + task)
        order = torch.randperm(len(indices), generator=generator).tolist()
        count = round(fraction * len(indices))
        held.update(indices[k] for k in order[:count])
    train = [ex for i, ex in enumerate(examples) if i not in held]
    val = [ex for i, ex in enumerate(examples) if i in held]
    return train, val


class BabiData(NamedTuple):
    """Training, validation and test tensors sharing one vocabulary and one padding."""

    train: BabiTensors
    val: BabiTensors
    test: BabiTensors
    vocab: BabiVocab


def load_babi(
    tasks: int | Sequence[int] = tuple(range(1, 21)),
    *,
    variant: Variant = "en",
    data_dir: str | os.PathLike[str] | None = None,
    memory_size: int = 50,
    val_fraction: float = 0.1,
    seed: int = 0,
    download: bool = False,
    max_train_per_task: int | None = None,
) -> BabiData:
    """Load, split and vectorise one task or several (joint training: one shared vocabulary).

    Args:
        tasks: a task number or a sequence of them (default all 20: joint training).
        variant: ``"en"`` (1k) or ``"en-10k"``.
        data_dir: the data root.
        memory_size: sentences kept per question (50 in the paper).
        val_fraction: held-out share of each task's training questions (10% in the paper).
        seed: seed of the validation split.
        download: fetch the original archive when files are missing.
        max_train_per_task: keep only the first this many training questions of each task
            (before the split; quick runs); ``None`` = all.

    Returns:
        :class:`BabiData`; every split has the same ``M``, ``J`` and ``Jq``.
    """
    task_list = [tasks] if isinstance(tasks, int) else list(tasks)
    if not task_list:
        raise ValueError("tasks must name at least one task")
    for task in task_list:
        babi_file_name(task, "train", variant)  # validates task and variant
    train_all: list[BabiExample] = []
    test_all: list[BabiExample] = []
    for task in task_list:
        train = load_babi_task(task, "train", variant=variant, data_dir=data_dir,
                               download=download)
        if max_train_per_task is not None:
            train = train[:max_train_per_task]
        train_all.extend(train)
        test_all.extend(load_babi_task(task, "test", variant=variant, data_dir=data_dir,
                                       download=download))
    train_part, val_part = split_validation(train_all, fraction=val_fraction, seed=seed)
    vocab = build_vocab(train_all, test_all)
    every = [*train_all, *test_all]
    shape = {
        "num_slots": max(1, max(min(len(ex.story), memory_size) for ex in every)),
        "sentence_len": max(1, max((len(w) for ex in every for w in ex.story), default=1)),
        "query_len": max(1, max(len(ex.query) for ex in every)),
    }
    def vec(part: list[BabiExample]) -> BabiTensors:
        return vectorize_babi(part, vocab, memory_size=memory_size, **shape)

    if not val_part:
        val_part = train_part[:1]
    return BabiData(vec(train_part), vec(val_part), vec(test_all), vocab)
