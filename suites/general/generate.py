"""Deterministic generator for the `general` suite (general-capability regression checks).

Writes data/test.jsonl and data/dev.jsonl next to this file. Standard library only; the same seed
always yields byte-identical files. Every item is written for this project:

- multiple choice (`metadata.task: mc`): general knowledge (geography, science, history),
  commonsense (everyday physical and social reasoning) and arithmetic (generated from templates);
  4 choices each, scored by log-likelihood of " choice" after "Question: ...\\nAnswer:";
- perplexity passages (`metadata.task: ppl`): short general English texts, scored from the start;
- instruction-following checks (`metadata.task: gen`, the default): a chat request with a format
  instruction and `metadata.check` for the `instruction_check` scorer.

    python suites/general/generate.py            # regenerate
    python suites/general/generate.py --stats    # regenerate and print the composition
    python suites/general/generate.py --check    # fail if the committed files differ
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

SEED = 20260401
HERE = Path(__file__).resolve().parent
# items per split and kind; what is left of each hand-written pool after dev goes to test
DEV_SIZES = {"knowledge": 15, "commonsense": 15, "arithmetic": 12, "ppl": 8, "instruction": 10}
TEST_ARITHMETIC = 45

# -- general knowledge: (question, gold, three distractors) -------------------------------------
# fmt: off
KNOWLEDGE: list[tuple[str, str, str, str, str]] = [
    # geography
    ('What is the capital of France?', 'Paris', 'Lyon', 'Marseille', 'Nice'),
    ('What is the capital of Japan?', 'Tokyo', 'Osaka', 'Kyoto', 'Hiroshima'),
    ('What is the capital of Australia?', 'Canberra', 'Sydney', 'Melbourne', 'Perth'),
    ('What is the capital of Canada?', 'Ottawa', 'Toronto', 'Vancouver', 'Montreal'),
    ('What is the capital of Italy?', 'Rome', 'Milan', 'Naples', 'Venice'),
    ('What is the capital of Egypt?', 'Cairo', 'Alexandria', 'Luxor', 'Aswan'),
    ('What is the capital of Kenya?', 'Nairobi', 'Mombasa', 'Kisumu', 'Nakuru'),
    ('What is the capital of Spain?', 'Madrid', 'Barcelona', 'Seville', 'Valencia'),
    ('What is the capital of Brazil?', 'Brasília', 'Rio de Janeiro', 'São Paulo', 'Salvador'),
    ('What is the capital of Germany?', 'Berlin', 'Munich', 'Hamburg', 'Frankfurt'),
    ('Which is the largest ocean on Earth?', 'the Pacific Ocean', 'the Atlantic Ocean', 'the Indian Ocean', 'the Arctic Ocean'),
    ('Which river is the longest in South America?', 'the Amazon', 'the Orinoco', 'the Paraná', 'the Magdalena'),
    ('On which continent is the Sahara Desert?', 'Africa', 'Asia', 'South America', 'Australia'),
    ('Which mountain is the highest above sea level?', 'Mount Everest', 'K2', 'Kangchenjunga', 'Mont Blanc'),
    ('Which country has the largest population in South America?', 'Brazil', 'Argentina', 'Colombia', 'Peru'),
    ('Which river flows through Cairo?', 'the Nile', 'the Congo', 'the Niger', 'the Zambezi'),
    ('Which country is the largest by area?', 'Russia', 'Canada', 'China', 'the United States'),
    ('Which of these countries is an island nation?', 'Iceland', 'Austria', 'Hungary', 'Bolivia'),
    ('Which city is nicknamed the Big Apple?', 'New York City', 'Chicago', 'Los Angeles', 'Boston'),
    ('On which continent is Argentina?', 'South America', 'Africa', 'Europe', 'Asia'),
    ('The Alps are a mountain range on which continent?', 'Europe', 'Asia', 'Africa', 'North America'),
    ('Which sea lies between southern Europe and northern Africa?', 'the Mediterranean Sea', 'the Baltic Sea', 'the Red Sea', 'the North Sea'),
    ('Lisbon is the capital of which country?', 'Portugal', 'Spain', 'Italy', 'Greece'),
    ('Which is the smallest continent by area?', 'Australia', 'Europe', 'Antarctica', 'South America'),
    # science
    ('Which gas do plants take in from the air to make their food?', 'carbon dioxide', 'oxygen', 'nitrogen', 'helium'),
    ('What is the chemical symbol for gold?', 'Au', 'Ag', 'Gd', 'Go'),
    ('What is the common name for H2O?', 'water', 'hydrogen peroxide', 'table salt', 'ammonia'),
    ('How many planets are in our solar system?', 'eight', 'seven', 'nine', 'ten'),
    ('Which planet is known as the Red Planet?', 'Mars', 'Venus', 'Jupiter', 'Mercury'),
    ('Which planet is the largest in our solar system?', 'Jupiter', 'Saturn', 'Earth', 'Neptune'),
    ('At how many degrees Celsius does water boil at sea level?', '100', '90', '80', '120'),
    ('Which force pulls objects toward the centre of the Earth?', 'gravity', 'magnetism', 'friction', 'static electricity'),
    ('Which organ pumps blood around the human body?', 'the heart', 'the liver', 'the lungs', 'the kidneys'),
    ('How many legs does an insect have?', 'six', 'four', 'eight', 'ten'),
    ('What is the hardest natural substance?', 'diamond', 'gold', 'iron', 'quartz'),
    ('Which part of a plant takes in water from the soil?', 'the roots', 'the leaves', 'the flowers', 'the seeds'),
    ('What do bees make from the nectar of flowers?', 'honey', 'silk', 'butter', 'vinegar'),
    ('Which blood cells carry oxygen around the body?', 'red blood cells', 'white blood cells', 'platelets', 'nerve cells'),
    ('At how many degrees Fahrenheit does water freeze?', '32', '0', '100', '212'),
    ("Which gas makes up most of the Earth's atmosphere?", 'nitrogen', 'oxygen', 'carbon dioxide', 'argon'),
    ('What kind of animal is a whale?', 'a mammal', 'a fish', 'a reptile', 'an amphibian'),
    ('What is the main source of energy for life on Earth?', 'the Sun', 'the Moon', 'volcanoes', 'the wind'),
    ('Which metal is liquid at room temperature?', 'mercury', 'iron', 'copper', 'aluminium'),
    ('Which of these is a renewable source of energy?', 'solar power', 'coal', 'oil', 'natural gas'),
    ('What is the largest organ of the human body?', 'the skin', 'the liver', 'the brain', 'the heart'),
    ('How long does the Earth take to travel once around the Sun?', 'about one year', 'about one day', 'about one month', 'about ten years'),
    ('What does a thermometer measure?', 'temperature', 'air pressure', 'wind speed', 'rainfall'),
    ('What is the chemical symbol for sodium?', 'Na', 'So', 'Sd', 'Sn'),
    ('Which particles in an atom carry a negative charge?', 'electrons', 'protons', 'neutrons', 'photons'),
    ('What is the process called when liquid water turns into vapour?', 'evaporation', 'condensation', 'freezing', 'melting'),
    # history
    ('Who was the first President of the United States?', 'George Washington', 'Abraham Lincoln', 'Thomas Jefferson', 'John Adams'),
    ('In which year did the Second World War end?', '1945', '1918', '1939', '1950'),
    ('Which ancient civilization built the pyramids of Giza?', 'the ancient Egyptians', 'the ancient Romans', 'the Vikings', 'the Aztecs'),
    ('Who was the first person to walk on the Moon?', 'Neil Armstrong', 'Yuri Gagarin', 'Buzz Aldrin', 'John Glenn'),
    ('In which year did the Berlin Wall fall?', '1989', '1961', '1975', '1991'),
    ('Who wrote the play Romeo and Juliet?', 'William Shakespeare', 'Charles Dickens', 'Jane Austen', 'Geoffrey Chaucer'),
    ('Julius Caesar was a leader of which ancient state?', 'Rome', 'Persia', 'Carthage', 'Babylon'),
    ('Who painted the Mona Lisa?', 'Leonardo da Vinci', 'Michelangelo', 'Vincent van Gogh', 'Pablo Picasso'),
    ('Which country gave the Statue of Liberty to the United States?', 'France', 'Britain', 'Spain', 'Italy'),
    ('Who developed the theory of relativity?', 'Albert Einstein', 'Isaac Newton', 'Charles Darwin', 'Galileo Galilei'),
    ('Which ship sank in 1912 after striking an iceberg?', 'the Titanic', 'the Lusitania', 'the Mayflower', 'the Bismarck'),
    ('In which country did the Industrial Revolution begin?', 'Great Britain', 'Japan', 'Brazil', 'Russia'),
    ('Who was the British Prime Minister for most of the Second World War?', 'Winston Churchill', 'Neville Chamberlain', 'Clement Attlee', 'Margaret Thatcher'),
    ('Which wall was built in ancient China to keep out invaders?', 'the Great Wall', "Hadrian's Wall", 'the Berlin Wall', 'the Western Wall'),
    ('Who proposed the theory of evolution by natural selection?', 'Charles Darwin', 'Isaac Newton', 'Louis Pasteur', 'Nikola Tesla'),
    ('Whose voyage of 1492 reached the Americas?', 'Christopher Columbus', 'Vasco da Gama', 'Ferdinand Magellan', 'James Cook'),
    ('In which year did the First World War begin?', '1914', '1905', '1920', '1939'),
    ('Who was granted the first patent for the telephone?', 'Alexander Graham Bell', 'Thomas Edison', 'Guglielmo Marconi', 'Samuel Morse'),
    ('Which people held the first Olympic Games?', 'the ancient Greeks', 'the ancient Egyptians', 'the Romans', 'the Celts'),
    ('Who was the first woman to win a Nobel Prize?', 'Marie Curie', 'Florence Nightingale', 'Rosalind Franklin', 'Ada Lovelace'),
    ('Who built the first European printing press with movable type?', 'Johannes Gutenberg', 'Leonardo da Vinci', 'Martin Luther', 'Isaac Newton'),
]
# fmt: on

# -- commonsense: everyday physical and social reasoning ----------------------------------------
# fmt: off
COMMONSENSE: list[tuple[str, str, str, str, str]] = [
    ('Where would you keep milk so that it stays cold?', 'in the refrigerator', 'in the oven', 'on a bookshelf', 'in a sock drawer'),
    ('What do you use to cut a sheet of paper?', 'scissors', 'a spoon', 'a pillow', 'a towel'),
    ('It starts raining and you want to stay dry outside. What should you take?', 'an umbrella', 'sunglasses', 'a fan', 'a hammer'),
    ('What happens to ice cream left in the sun on a hot day?', 'it melts', 'it freezes harder', 'it grows', 'it turns to stone'),
    ('A friend is crying because their pet died. What is a kind thing to do?', 'comfort them', 'laugh at them', 'ignore them', 'ask them for money'),
    ('Which is heavier, a brick or a feather?', 'the brick', 'the feather', 'they weigh exactly the same', 'neither has any weight'),
    ('What do people usually do when they are very tired at night?', 'go to sleep', 'go for a long run', 'eat breakfast', 'start a new job'),
    ('Where can you borrow books for free?', 'at a library', 'at a bakery', 'at a petrol station', 'at a gym'),
    ('A glass falls onto a hard tiled floor. What is likely to happen?', 'it breaks', 'it bounces back onto the table', 'it turns into water', 'it gets bigger'),
    ('What should you do before crossing a busy street?', 'look both ways', 'close your eyes', 'run without looking', 'sit down in the road'),
    ('What do you need to light a candle?', 'a match', 'a spoon', 'an ice cube', 'a sponge'),
    ('Why do people wear coats in winter?', 'to stay warm', 'to stay cool', 'to run faster', 'to sleep better'),
    ('You plant a seed and water it every day. What will probably happen?', 'it will grow into a plant', 'it will turn into a rock', 'it will fly away', 'it will melt'),
    ('Someone holds a door open for you. What do you usually say?', 'thank you', 'go away', 'good night', 'happy birthday'),
    ('What would you use to dig a hole in a garden?', 'a shovel', 'a toothbrush', 'a paintbrush', 'a comb'),
    ('Where would you find sand and waves?', 'at the beach', 'in a library', 'in a kitchen', 'in an office'),
    ('A little oil in a frying pan catches fire. What is the safest thing to do?', 'cover the pan with a lid', 'pour water into the pan', 'fan the flames with a newspaper', 'add more oil'),
    ('You are thirsty. What should you have?', 'a glass of water', 'a spoonful of salt', 'a handful of dry rice', 'a bottle of glue'),
    ('A child wants to reach a cookie jar on a high shelf. What could help?', 'a step stool', 'a blanket', 'a spoon', 'a sock'),
    ('What happens to a small puddle on a warm, sunny afternoon?', 'it dries up', 'it freezes solid', 'it grows larger', 'it turns red'),
    ('Why would someone set an alarm clock?', 'to wake up on time', 'to cook dinner', 'to clean the floor', 'to water the plants'),
    ('Your phone battery is almost empty. What should you do?', 'charge it', 'put it in the freezer', 'wash it', 'throw it away'),
    ('You have written a letter to a friend in another town. How do you send it?', 'put it in an envelope and post it', 'eat it', 'plant it in the garden', 'put it in the oven'),
    ('Where is the safest place to keep sharp knives in a home with small children?', 'in a locked drawer', 'on the floor', 'in the toy box', 'under a pillow'),
    ('What do you usually wear on your feet?', 'shoes', 'gloves', 'hats', 'scarves'),
    ('What is a refrigerator used for?', 'keeping food cold', 'washing clothes', 'heating rooms', 'cutting wood'),
    ('What happens to bread that is left uncovered for a week?', 'it goes stale or mouldy', 'it becomes fresher', 'it turns into cake', 'it gets heavier'),
    ('A man is stuck in traffic and will be late for a meeting. What should he do?', 'let the others know he is running late', 'leave his car in the road', 'go home and sleep', 'pretend the meeting does not exist'),
    ('You let go of a ball you are holding. Which way does it fall?', 'down', 'up', 'sideways', 'in circles'),
    ('What helps you see in a dark room?', 'a torch', 'a mirror', 'a spoon', 'a pillow'),
    ('Why do we wash our hands before eating?', 'to remove germs', 'to make them heavier', 'to change their colour', 'to warm up the food'),
    ('What would you wear to protect your eyes from bright sunlight?', 'sunglasses', 'earmuffs', 'a scarf', 'gloves'),
    ('You accidentally bump into someone in a shop. What should you do?', 'say sorry', 'shout at them', 'run away laughing', 'take their bag'),
    ('In which room do people usually cook their meals?', 'the kitchen', 'the garage', 'the bathroom', 'the bedroom'),
    ('A plant on a windowsill is drooping and its soil is dry. What does it most likely need?', 'water', 'darkness', 'salt', 'a haircut'),
    ('You are driving and the traffic light turns red. What do you do?', 'stop the car', 'speed up', 'close your eyes', 'get out of the car'),
    ('What colour do you get when you mix red paint with white paint?', 'pink', 'green', 'black', 'blue'),
    ('It is dark outside and the stars are shining. What time of day is it?', 'night', 'noon', 'early afternoon', 'mid-morning'),
    ('Why do people wear a seat belt in a car?', 'to stay safe in case of a crash', 'to keep the car clean', 'to make the car go faster', 'to turn on the radio'),
    ('What are you most likely to find in a wallet?', 'money', 'a sandwich', 'a lamp', 'a shoe'),
    ('Maria studied hard every day for weeks before her exam. How does she probably feel going into it?', 'well prepared', 'completely unprepared', 'surprised that there is an exam', 'angry at the weather'),
    ('What is a good thing to bring on a long hike?', 'a bottle of water', 'a television', 'a piano', 'a bathtub'),
    ('What do you use to unlock a front door?', 'a key', 'a candle', 'a spoon', 'a leaf'),
    ('Which of these would keep you afloat in deep water?', 'a life jacket', 'a heavy backpack', 'a brick', 'an iron pan'),
    ('A baby is crying and has not eaten for hours. What does the baby probably need?', 'to be fed', 'to go to school', 'to drive a car', 'to read a newspaper'),
    ('Why do people put food in the freezer?', 'to stop it from spoiling', 'to cook it faster', 'to make it hot', 'to make it grow'),
    ('You want to know what time it is. What do you look at?', 'a clock', 'a shoe', 'a spoon', 'a pillow'),
    ('What happens to water when it is cooled below zero degrees Celsius?', 'it turns into ice', 'it boils', 'it turns into steam', 'it catches fire'),
    ("Tom forgot his new colleague's name right after being introduced. How might he feel?", 'embarrassed', 'proud', 'sleepy', 'invisible'),
    ('What should you do with your rubbish after a picnic in the park?', 'put it in a bin', 'leave it on the grass', 'bury it in the sandpit', 'throw it in the pond'),
    ('What do you write with on a whiteboard?', 'a marker', 'a hammer', 'a toothbrush', 'a sponge'),
    ('Where would you go to see a doctor?', 'a clinic', 'a cinema', 'a car wash', 'a stadium'),
    ('Which is more likely to float on a lake, a wooden log or an iron anvil?', 'the wooden log', 'the iron anvil', 'both sink', 'both float'),
    ('Why do people speak quietly in a library?', 'to avoid disturbing others', 'to make the books louder', 'to practise singing', 'to keep the lights on'),
    ('You hear thunder during a storm. What are you also likely to see?', 'lightning', 'snow falling upward', 'the sun rising at midnight', 'a solar eclipse'),
    ('What do people use to dry themselves after a shower?', 'a towel', 'a newspaper', 'a frying pan', 'a plate'),
    ('A cup of hot tea is left on the table for an hour. What happens to it?', 'it cools down', 'it gets hotter', 'it freezes solid', 'it turns into coffee'),
    ('What would you use to talk to a friend who lives far away?', 'a phone', 'a ladder', 'a broom', 'a kettle'),
    ('Why do people close the windows when it starts to rain?', 'to keep the rain out', 'to let the rain in', 'to make the room louder', 'to water the carpet'),
    ('Why does someone usually go to a bakery?', 'to buy bread', 'to fix a car', 'to get a haircut', 'to post a parcel'),
    ('Which object could hold a few sheets of paper together?', 'a paper clip', 'a banana', 'a sponge', 'a candle'),
    ('Anna gave her seat on the bus to an elderly man. What does this show about her?', 'she is considerate', 'she is rude', 'she is lost', 'she is asleep'),
    ('What do you put on a small cut to keep it clean?', 'a plaster', 'butter', 'sand', 'ink'),
    ('You need to cross a wide river and there is no bridge. What could you use?', 'a boat', 'a bicycle', 'a ladder', 'an umbrella'),
    ("Sam's ice cube tray has been in the freezer all night. What will he find in it?", 'ice cubes', 'warm water', 'steam', 'sand'),
    ('A shop is closed on Sundays and today is Sunday. Can you buy something there today?', 'no, it is closed', 'yes, it is open all day', 'only at midnight', 'only if it rains'),
]
# fmt: on

# -- perplexity passages: held-out general English (encyclopedic, instructions, narrative) ------
# fmt: off
PASSAGES: list[str] = [
    'The honeybee lives in colonies that can hold tens of thousands of workers. Each worker changes jobs as it ages, starting by cleaning cells and feeding larvae before it leaves the hive to collect nectar and pollen.',
    'To boil an egg, place it in a small pan and cover it with cold water. Bring the water to a gentle boil, then let it cook for about eight minutes. Cool the egg under running water before you peel it.',
    'On the first morning of the holidays, Lena woke before anyone else. She tiptoed down the stairs, opened the back door and found the garden white with frost. For a long moment she simply stood there and listened to the quiet.',
    'Volcanoes form where molten rock from deep inside the Earth reaches the surface. Some erupt violently and throw ash high into the sky, while others release slow rivers of lava that cool into new rock.',
    'Before painting a wall, wash it with warm soapy water and let it dry. Fill any cracks, sand the patches smooth and protect the floor with an old sheet. Two thin coats of paint usually look better than one thick coat.',
    'The old lighthouse keeper climbed the spiral stairs every evening at dusk. He polished the great lens, lit the lamp and wrote the weather in his logbook, just as his father had done for forty years before him.',
    'Rain forms when tiny droplets of water in a cloud join together and grow too heavy to stay in the air. In cold clouds the water may first freeze into snowflakes, which melt into raindrops as they fall through warmer air.',
    'If you want to remember new words in another language, review them a little every day rather than all at once. Say each word aloud, use it in a short sentence, and come back to the hardest ones the next morning.',
    'The train was late, so Omar bought a cup of tea and sat on a bench at the end of the platform. A pigeon walked up and down in front of him as if it, too, were waiting for the eight fifteen to Glasgow.',
    'Libraries have existed for thousands of years. Early collections were kept on clay tablets or scrolls, and only a few scholars could use them. Today most towns have a public library that anyone may join for free.',
    'To plant a young tree, dig a hole twice as wide as its roots but no deeper. Set the tree in the hole, fill it with soil and press the earth down firmly. Water it well and keep the soil moist for the first summer.',
    'The market opened at dawn. Farmers stacked crates of apples and pears, a baker laid out warm loaves, and the smell of fresh coffee drifted between the stalls while the first shoppers arrived with their baskets.',
    'The human skeleton of an adult has about two hundred bones. They protect organs such as the brain and the heart, give the body its shape, and work with the muscles so that we can stand, walk and lift things.',
    'When you send an important email, read it once more before you press send. Check that the names are spelled correctly, that any attachment is really attached, and that the subject line says what the message is about.',
    'Grandmother kept a tin of buttons on the kitchen shelf. On rainy afternoons the children tipped it out onto the table and sorted the buttons by colour, inventing a story for every odd one they found.',
    'Glaciers are huge bodies of ice that move slowly downhill under their own weight. As they move, they scrape the ground beneath them and carve wide valleys, leaving behind rocks and gravel when the ice finally melts.',
    'To make a simple budget, write down everything you earn in a month and everything you spend. Group the spending into needs and wants, then decide how much you would like to save before the next month begins.',
    'The storm reached the island late in the afternoon. Fishermen pulled their boats high onto the sand, shutters banged in the wind, and by nightfall the only light in the village came from the windows of the small inn.',
    'Penguins are birds that cannot fly, but they are excellent swimmers. Their wings work like flippers under water, and a thick layer of fat and tightly packed feathers keeps them warm in icy seas.',
    'If a pot of soup tastes too salty, add more water or unsalted stock and simmer it for a few minutes. A peeled potato cooked in the pot will not remove much salt, so it is better to add vegetables and taste again.',
    "Every Saturday, Mr Patel opened his small repair shop at nine o'clock. People brought him radios, lamps and broken clocks, and he fixed most of them while telling long stories about the town as it used to be.",
    'The Moon has no light of its own. It shines because it reflects sunlight, and the shape we see changes through the month as different parts of its sunlit side face the Earth.',
    'When you start running for exercise, begin slowly. Alternate a minute of easy running with two minutes of walking, and add a little more running each week. Rest days are part of the plan, not a sign of weakness.',
    'The bridge across the river was finished in the spring. On the first morning hundreds of people walked across it, children waved at the boats below, and an old man said the town finally felt like one place again.',
    'Coral reefs are built by tiny animals that live together in large colonies. Over many years their hard skeletons pile up into reefs that shelter fish, crabs and many other creatures of the warm, shallow sea.',
    'To keep a houseplant healthy, put it where it gets the right amount of light for its kind, and water it only when the top of the soil feels dry. Most plants suffer more from too much water than from too little.',
    'Nadia found an old map folded inside a library book. Someone had drawn a small red circle near the river and written a date beside it in pencil. She looked at the date twice, because it was tomorrow.',
    'Wind turbines turn the energy of moving air into electricity. The wind spins the long blades, the blades turn a shaft, and a generator inside the tower changes that motion into an electric current.',
    'Before a long car journey, check the tyre pressure, the oil and the windscreen washer fluid. Plan a break every two hours, and make sure you have water, a charged phone and a map in case you lose signal.',
    'The school choir had practised for months. When the curtain opened, the youngest singer forgot the first line, but the girl beside her quietly sang it for both of them, and after that the whole hall joined in.',
    'Tea was first drunk in China many centuries ago and later spread along trade routes to other parts of Asia and to Europe. Today it is one of the most popular drinks in the world after water.',
    'To clean a cast iron pan, rinse it with hot water and scrub off any food with a brush. Dry it completely on a warm hob and rub a few drops of oil over the surface so that it does not rust.',
    "At the end of the summer the swallows gathered on the telephone wires above the farm. One morning the wires were empty, and the farmer's son understood that the birds had started their long journey south.",
]
# fmt: on

# -- instruction-following checks: (request, an answer that passes, check) ----------------------
# fmt: off
INSTRUCTIONS: list[tuple[str, str, Any]] = [
    ('Answer with one word only: what colour is a clear daytime sky?', 'Blue', {'type': 'one_word', 'accept': ['blue']}),
    ("Answer with one word only: what is the opposite of 'hot'?", 'Cold', {'type': 'one_word', 'accept': ['cold']}),
    ('Answer with a single number only: how many days are in a week?', '7', {'type': 'regex', 'pattern': '^7\\.?$'}),
    ("Write exactly three bullet points listing fruits. Start each bullet with '- ' and write nothing else.", '- apple\n- banana\n- cherry', {'type': 'bullets', 'count': 3}),
    ("Reply in JSON with a single key 'answer' whose value is the capital of Italy.", '{"answer": "Rome"}', {'type': 'json_key', 'key': 'answer', 'value': 'Rome'}),
    ('Respond in all lowercase letters: describe a cat in one sentence.', 'a cat is a small furry animal that likes to sleep in the sun.', {'type': 'lowercase'}),
    ('Respond in all capital letters: greet the team in one short sentence.', 'HELLO, TEAM!', {'type': 'uppercase'}),
    ('In no more than ten words, explain what a thermometer does.', 'It measures how hot or cold something is.', {'type': 'max_words', 'max': 10}),
    ("Reply with only 'yes' or 'no': is the Earth round?", 'Yes', {'type': 'regex', 'pattern': '^(yes|no)\\W*$', 'flags': 'i'}),
    ("Start your reply with the word 'Sure' and then name one planet.", 'Sure, Mars.', {'type': 'starts_with', 'prefix': 'Sure'}),
    ("Write one sentence about the ocean that includes the word 'blue'.", 'The ocean looks deep blue on a sunny day.', {'type': 'contains', 'words': ['blue']}),
    ("Give two numbered steps for making tea, formatted as '1.' and '2.', and nothing else.", '1. Boil water and pour it over a tea bag.\n2. Wait three minutes, then remove the bag.', {'type': 'numbered', 'count': 2}),
    ("Reply in JSON with the keys 'name' and 'age' for a made-up person.", '{"name": "Ada", "age": 34}', {'type': 'json_key', 'keys': ['name', 'age']}),
    ('Describe rain in exactly five words.', 'Cold drops falling from clouds.', {'type': 'max_words', 'min': 5, 'max': 5}),
    ("What is 2 + 2? End your answer with the word 'done'.", '4, done', {'type': 'ends_with', 'suffix': 'done'}),
    ("Answer in one word: which farm animal says 'moo'?", 'Cow', {'type': 'one_word', 'accept': ['cow', 'cows']}),
    ("Write exactly three bullet points about staying healthy, each starting with '- ', and nothing else.", '- Sleep enough\n- Eat vegetables\n- Walk every day', {'type': 'bullets', 'count': 3}),
    ('Respond in all lowercase: name three colours.', 'red, green and blue', {'type': 'lowercase'}),
    ("Reply in JSON with the key 'answer': how many legs does a spider have?", '{"answer": 8}', {'type': 'json_key', 'key': 'answer', 'value': '8'}),
    ("List exactly four animals as bullet points starting with '- ', and nothing else.", '- dog\n- cat\n- horse\n- owl', {'type': 'bullets', 'count': 4}),
    ('Answer with a single number only: what is 6 times 7?', '42', {'type': 'regex', 'pattern': '^42\\.?$'}),
    ('Write a title for a story about a lost key, in at most six words.', 'The Key Under the Stairs', {'type': 'max_words', 'max': 6}),
    ("Reply with only the word 'OK'.", 'OK', {'type': 'regex', 'pattern': '^ok\\W*$', 'flags': 'i'}),
    ("Translate 'thank you' into French. Give only the translation.", 'Merci', [{'type': 'max_words', 'max': 3}, {'type': 'contains', 'words': ['merci']}]),
    ('Name a fruit and wrap your whole answer in double quotation marks.', '"Mango"', {'type': 'regex', 'pattern': '^".+"$', 'flags': 's'}),
    ("Give a one-sentence definition of gravity that uses the word 'mass'.", 'Gravity is the force by which every mass attracts every other mass.', {'type': 'contains', 'words': ['mass']}),
    ("Reply in JSON: an object with the key 'colors' holding a list of two colours.", '{"colors": ["red", "blue"]}', {'type': 'json_key', 'key': 'colors', 'value_type': 'list'}),
    ('Write your answer in all capital letters: what is the capital of Spain?', 'MADRID', [{'type': 'uppercase'}, {'type': 'contains', 'words': ['madrid']}]),
    ('Answer yes or no only: is ice cold?', 'Yes', {'type': 'regex', 'pattern': '^(yes|no)\\W*$', 'flags': 'i'}),
    ("Write exactly two bullet points about the Moon, each starting with '- ', and nothing else.", '- It orbits the Earth\n- It reflects sunlight', {'type': 'bullets', 'count': 2}),
    ('Respond in all lowercase: what is your favourite season and why?', 'autumn, because the leaves turn gold and the air is cool.', {'type': 'lowercase'}),
    ('Use at most eight words to describe a bicycle.', 'Two wheels, pedals, and a chain.', {'type': 'max_words', 'max': 8}),
    ("Reply in JSON with the key 'sum' holding the sum of 3 and 4.", '{"sum": 7}', {'type': 'json_key', 'key': 'sum', 'value': '7'}),
    ('Name a mammal. Answer with one word.', 'Dolphin', {'type': 'one_word'}),
    ("Begin your answer with 'Answer:' and then give the colour of grass.", 'Answer: green', [{'type': 'starts_with', 'prefix': 'Answer:'}, {'type': 'contains', 'words': ['green']}]),
    ("Write three words that rhyme with 'cat', separated by commas, and nothing else.", 'hat, bat, mat', {'type': 'regex', 'pattern': '^[A-Za-z]+\\s*,\\s*[A-Za-z]+\\s*,\\s*[A-Za-z]+\\.?$'}),
    ('Describe your breakfast in one sentence without using any commas.', 'I ate toast with jam and drank tea.', [{'type': 'not_contains', 'words': [',']}, {'type': 'max_words', 'min': 3, 'max': 30}]),
    ('Reply with a whole number between 1 and 10 and nothing else.', '7', {'type': 'regex', 'pattern': '^(10|[1-9])\\.?$'}),
    ('Respond in all capital letters: what do bees make?', 'HONEY', {'type': 'uppercase'}),
    ("List exactly three countries in Europe as bullet points starting with '- ', and nothing else.", '- France\n- Poland\n- Spain', {'type': 'bullets', 'count': 3}),
]
# fmt: on


# -- arithmetic (generated) --------------------------------------------------------------------
def _arith_item(rng: random.Random, kind: str) -> tuple[str, int, list[int]]:
    """(question, answer, candidate wrong answers) for one arithmetic item."""
    if kind == "add":
        a, b = rng.randint(12, 89), rng.randint(12, 89)
        return f"What is {a} + {b}?", a + b, [a + b + 1, a + b - 1, a + b + 10, a + b - 10, abs(a - b)]
    if kind == "sub":
        a = rng.randint(40, 99)
        b = rng.randint(11, a - 5)
        return f"What is {a} - {b}?", a - b, [a - b + 1, a - b - 1, a - b + 10, a + b, a - b - 10]
    if kind == "mul":
        a, b = rng.randint(3, 12), rng.randint(3, 12)
        return f"What is {a} times {b}?", a * b, [a * b + a, a * b - b, a + b, a * b + 1, a * (b + 2)]
    if kind == "div":
        b, quot = rng.randint(2, 9), rng.randint(3, 12)
        return (
            f"What is {b * quot} divided by {b}?",
            quot,
            [quot + 1, quot - 1, quot + 2, b * quot - b, quot * 2],
        )
    a, b = rng.randint(3, 15), rng.randint(2, 9)
    templates = [
        (
            f"Sam has {a} apples and buys {b} more. How many apples does Sam have now?",
            a + b,
            [a + b + 1, a + b - 1, a * b, a - b],
        ),
        (
            f"A box holds {a} pencils. How many pencils are in {b} boxes?",
            a * b,
            [a * b + a, a * b - a, a + b, a * b + 1],
        ),
        (
            f"There were {a + b} birds on a tree and {b} flew away. How many birds are left?",
            a,
            [a + 1, a - 1, a + 2 * b, a + b],
        ),
        (
            f"A ticket costs {a} dollars. How many dollars do {b} tickets cost?",
            a * b,
            [a * b - a, a * b + b, a + b, a * b + 10],
        ),
        (
            f"{a * b} cookies are shared equally among {b} children. How many cookies does each child get?",
            a,
            [a + 1, a - 1, a * b - b, a + b],
        ),
        (
            f"Mia reads {a} pages a day. How many pages does she read in {b} days?",
            a * b,
            [a * b + a, a + b, a * b - 1, a * b + 2],
        ),
        (
            f"A bus has {a + b + 10} passengers. At the next stop {b} get off. How many passengers are on the bus now?",
            a + 10,
            [a + 11, a + 9, a + 2 * b + 10, a + 20],
        ),
    ]
    q, ans, wrong = templates[rng.randrange(len(templates))]
    return q, ans, wrong


def arithmetic_items(rng: random.Random, n: int, seen: set[str]) -> list[tuple[str, str, str, str, str]]:
    kinds = ["add", "sub", "mul", "div", "word", "word"]
    out: list[tuple[str, str, str, str, str]] = []
    while len(out) < n:
        q, ans, wrong = _arith_item(rng, kinds[len(out) % len(kinds)])
        if q in seen:
            continue
        distractors = [w for w in dict.fromkeys(wrong) if w != ans and w > 0]
        rng.shuffle(distractors)
        if len(distractors) < 3:
            continue
        seen.add(q)
        out.append((q, str(ans), *(str(d) for d in distractors[:3])))  # type: ignore[arg-type]
    return out


# -- rows --------------------------------------------------------------------------------------
def mc_row(item_id: str, category: str, item: tuple[str, ...], gold_pos: int) -> dict[str, Any]:
    question, gold, *wrong = item
    choices = list(wrong)
    choices.insert(gold_pos, gold)
    return {
        "id": item_id,
        "messages": [{"role": "user", "content": question}, {"role": "assistant", "content": gold}],
        "metadata": {
            "task": "mc",
            "category": category,
            "context": f"Question: {question}\nAnswer:",
            "choices": choices,
            "gold": gold_pos,
        },
    }


def ppl_row(item_id: str, text: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "messages": [
            {"role": "user", "content": "Write a short passage of general English text."},
            {"role": "assistant", "content": text},
        ],
        "metadata": {"task": "ppl", "category": "passage"},
    }


def gen_row(item_id: str, request: str, answer: str, check: Any) -> dict[str, Any]:
    return {
        "id": item_id,
        "messages": [{"role": "user", "content": request}, {"role": "assistant", "content": answer}],
        "metadata": {"task": "gen", "category": "instruction", "check": check},
    }


def build() -> dict[str, list[dict[str, Any]]]:
    rng = random.Random(SEED)
    pools: dict[str, list[Any]] = {
        "knowledge": list(KNOWLEDGE),
        "commonsense": list(COMMONSENSE),
        "ppl": list(PASSAGES),
        "instruction": list(INSTRUCTIONS),
    }
    for pool in pools.values():
        rng.shuffle(pool)
    seen = {item[0] for item in KNOWLEDGE + COMMONSENSE}
    arith = arithmetic_items(rng, DEV_SIZES["arithmetic"] + TEST_ARITHMETIC, seen)
    pools["arithmetic"] = arith
    out: dict[str, list[dict[str, Any]]] = {"dev": [], "test": []}
    for split in ("dev", "test"):
        rows = out[split]
        for category in ("knowledge", "commonsense", "arithmetic"):
            pool = pools[category]
            part = pool[: DEV_SIZES[category]] if split == "dev" else pool[DEV_SIZES[category] :]
            # gold positions balanced over A-D, in a seeded order
            positions = [i % 4 for i in range(len(part))]
            rng.shuffle(positions)
            for j, (item, pos) in enumerate(zip(part, positions, strict=True)):
                rows.append(mc_row(f"general-{split}-{category[:4]}-{j + 1:03d}", category, item, pos))
        part = pools["ppl"][: DEV_SIZES["ppl"]] if split == "dev" else pools["ppl"][DEV_SIZES["ppl"] :]
        rows += [ppl_row(f"general-{split}-ppl-{j + 1:03d}", t) for j, t in enumerate(part)]
        part = (
            pools["instruction"][: DEV_SIZES["instruction"]]
            if split == "dev"
            else pools["instruction"][DEV_SIZES["instruction"] :]
        )
        rows += [gen_row(f"general-{split}-inst-{j + 1:03d}", *it) for j, it in enumerate(part)]
    _check(out)
    return out


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def _check(data: dict[str, list[dict[str, Any]]]) -> None:
    texts: set[str] = set()
    ids: set[str] = set()
    for rows in data.values():
        for r in rows:
            assert r["id"] not in ids, r["id"]
            ids.add(r["id"])
            meta = r["metadata"]
            key = _norm(r["messages"][0]["content"] if meta["task"] != "ppl" else r["messages"][1]["content"])
            assert key not in texts, f"duplicate item: {key}"
            texts.add(key)
            if meta["task"] == "mc":
                ch = meta["choices"]
                assert len(ch) == 4 and len({c.lower() for c in ch}) == 4, r["id"]
                assert 0 <= meta["gold"] < 4 and ch[meta["gold"]] == r["messages"][1]["content"], r["id"]
            elif meta["task"] == "ppl":
                n = len(re.findall(r"[.!?](?:\s|$)", r["messages"][1]["content"]))
                assert 2 <= n <= 4, (r["id"], n)
            else:
                assert "check" in meta, r["id"]
    assert len(data["test"]) >= 200, len(data["test"])


def _dump(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def stats(data: dict[str, list[dict[str, Any]]]) -> str:
    lines = []
    for split, rows in data.items():
        c = Counter((r["metadata"]["task"], r["metadata"]["category"]) for r in rows)
        gold = Counter(r["metadata"]["gold"] for r in rows if r["metadata"]["task"] == "mc")
        parts = ", ".join(f"{t}/{k}={n}" for (t, k), n in sorted(c.items()))
        lines.append(f"{split}: {len(rows)} items ({parts}); mc gold positions {dict(sorted(gold.items()))}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=HERE / "data", help="output folder (default: data/ here)")
    ap.add_argument("--stats", action="store_true", help="print the composition of each split")
    ap.add_argument("--check", action="store_true", help="only verify the files on disk are up to date")
    args = ap.parse_args(argv)
    data = build()
    if args.check:
        stale = [
            s
            for s, rows in data.items()
            if not (args.out / f"{s}.jsonl").is_file()
            or (args.out / f"{s}.jsonl").read_text(encoding="utf-8") != _dump(rows)
        ]
        if stale:
            print(
                f"out of date: {', '.join(f'{s}.jsonl' for s in stale)} (run {Path(__file__).name})",
                file=sys.stderr,
            )
            return 1
        print("data/ is up to date")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for split, rows in data.items():
        (args.out / f"{split}.jsonl").write_text(_dump(rows), encoding="utf-8")
    if args.stats:
        print(stats(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
